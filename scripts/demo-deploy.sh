#!/bin/sh
# The demo's deploy command: what a real one would do, in a few seconds.
echo "Deploying $CHANGEGATE_PROJECT $CHANGEGATE_RELEASE to $CHANGEGATE_ENVIRONMENT (task $CHANGEGATE_TASK_ID, change ${CHANGEGATE_CHANGE_NUMBER:-none})"
steps=${DEMO_STEPS:-3}
i=1
while [ "$i" -le "$steps" ]; do
  echo "step $i/$steps: rolling out"
  sleep 1
  i=$((i + 1))
done
echo "done"
