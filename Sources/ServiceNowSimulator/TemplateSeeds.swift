/// Templates every simulated instance starts with: the six captured from a real instance
/// (reference/responses/getStandardChangeTemplate.json, same sys_ids; texts from the changes made from them)
/// and one for changegate demos.
enum TemplateSeeds {
    static let demoName = "changegate demo: standard deploy"

    static let all: [SimTemplate] = [
        SimTemplate(
            sysID: "508e02ec47410200e90d87e8dee49058", name: "Add network switch to datacenter cabinet",
            shortDescription: "This standard change template describes adding a new network switch to a datacenter cabinet",
            templateSysID: "1c8e02ec47410200e90d87e8dee49057", versionSysID: "a08e02ec47410200e90d87e8dee4905a",
            categorySysID: "abbcbbbf47700200e90d87e8dee49041", categoryName: "Network Standard Changes", active: true,
            createdOn: "2015-07-01 10:11:36", updatedOn: "2018-05-18 12:42:59",
            createdBy: "Change.Manager",
            fields: [
                "short_description": "Add network switch to cabinet",
                "description": "This standard change template describes adding a new network switch to a datacenter cabinet",
                "implementation_plan": "-- Physically rack switch in top of cabinet\r\n-- Ensure that redundant power supply is connected to the backup power circuit in the cabinet\r\n-- Ensure that first GBIC fibre connector (Gi0/1) connects to primary distribution switch\r\n-- Ensure that second GBIC fibre connector (Gi1/1) connects to secondary distribution switch\r\n-- Connect console port to cabinet management console\r\n-- Add switch to network management console\r\n-- Add switch to network monitoring console\r\n-- Add switch to ServiceNow CMDB\r\n",
                "backout_plan": "-- Physically remove switch and all associated cabling\r\n-- Remove switch from management, monitoring and ServiceNow CMDB",
                "test_plan": "-- Run connectivity tests by connecting laptop to copper interface\r\n-- Ensure that switch is showing as healthy in network monitoring console",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "563504cc47410200e90d87e8dee490e2", name: "Reboot Windows Server",
            shortDescription: "Reboot a Windows Server (after patching or to clear a fault) making sure that it is removed from monitoring alerts, that network attached storage is unmounted and that it restarts cleanly",
            templateSysID: "9e3504cc47410200e90d87e8dee490e1", versionSysID: "923504cc47410200e90d87e8dee490e2",
            categorySysID: "b3ecbbbf47700200e90d87e8dee49081", categoryName: "Server Standard Changes", active: true,
            createdOn: "2015-06-29 10:54:50", updatedOn: "2018-05-18 12:43:14",
            createdBy: "Change.Manager",
            fields: [
                "short_description": "Reboot Windows Server",
                "description": "Reboot a Windows Server (after patching or to clear a fault) making sure that it is removed from monitoring alerts, that network attached storage is unmounted and that it restarts cleanly",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "92b8544047810200e90d87e8dee490b0", name: "Decommission local office Domain Controller",
            shortDescription: "Decommission a server from use including removal from backup, systems management and monitoring systems and disposal of hardware",
            templateSysID: "9ab8544047810200e90d87e8dee490af", versionSysID: "deb8544047810200e90d87e8dee490af",
            categorySysID: "b3ecbbbf47700200e90d87e8dee49081", categoryName: "Server Standard Changes", active: true,
            createdOn: "2015-06-29 12:20:03", updatedOn: "2018-05-18 12:43:23",
            createdBy: "Change.Manager",
            fields: [
                "short_description": "Decommission local office Domain Controller",
                "description": "Decommission a server from use including removal from backup, systems management and monitoring systems and disposal of hardware",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "b1c8d15147810200e90d87e8dee490f7", name: "Change VLAN on a Cisco switchport",
            shortDescription: "Change the port of a Cisco switch to a new VLAN. This would commonly occur when moving a server from one IP network to another.",
            templateSysID: "b9c8d15147810200e90d87e8dee490f6", versionSysID: "f1c8d15147810200e90d87e8dee490f9",
            categorySysID: "abbcbbbf47700200e90d87e8dee49041", categoryName: "Network Standard Changes", active: true,
            createdOn: "2015-07-03 14:12:18", updatedOn: "2018-05-18 12:43:33",
            createdBy: "Change.Manager",
            fields: [
                "short_description": "Change VLAN on a Cisco switchport",
                "description": "Change the port of a Cisco switch to a new VLAN. This would commonly occur when moving a server from one IP network to another.",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "d6c2273c47010200e90d87e8dee49004", name: "Clear BGP sessions on a Cisco router",
            shortDescription: "Resend the complete BGP table to neighboring routers",
            templateSysID: "d2c2273c47010200e90d87e8dee49004", versionSysID: "16c2273c47010200e90d87e8dee49006",
            categorySysID: "abbcbbbf47700200e90d87e8dee49041", categoryName: "Network Standard Changes", active: true,
            createdOn: "2015-07-02 10:58:18", updatedOn: "2018-05-18 12:43:51",
            createdBy: "admin",
            fields: [
                "short_description": "Clear BGP sessions on a Cisco router",
                "description": "Resend the complete BGP table to neighboring routers",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "df7359bc53231300e321ddeeff7b12f9", name: "Replace printer toner",
            shortDescription: "Replace printer toner",
            templateSysID: "5b7359bc53231300e321ddeeff7b12f8", versionSysID: "5b7399bc53231300e321ddeeff7b1206",
            categorySysID: "651395bc53231300e321ddeeff7b1221", categoryName: "Hardware Asset", active: true,
            createdOn: "2018-07-24 12:04:58", updatedOn: "2018-07-24 12:04:59",
            createdBy: "admin",
            fields: [
                "short_description": "Include a title for your change no greater than 100 characters",
                "description": "Describe what you plan to do",
                "implementation_plan": "List the steps in order of completion that will be worked through when implementing this change.\r\n\r\nNote who will perform each step and whether there are dependencies\r\n\t\t\tbetween steps.",
                "backout_plan": "Describe the steps you will take to revert the change to its pre-implementation state.\r\n\r\nAt what point during the implementation will you take the decision to\r\n\t\t\tbackout your change?\r\n\r\n\t\t\tDoes your change window include time to backout if you need\r\n\t\t\tto?",
                "test_plan": "Explain what testing you have done or will do prior to implementation that gives you confidence this change will be successful.\r\n\r\nDescribe the tests that will be carried out after implementation to confirm.\r\n\t\t\tthat the change has been successful.",
                "justification": "To improve color standards.",
                "risk_impact_analysis": "Low",
                "assignment_group": "679434f053231300e321ddeeff7b12d8",
            ],
            seeded: true
        ),
        SimTemplate(
            sysID: "c4a9e0d1f5b34a6c8e2d7b9a1c3e5f70", name: demoName,
            shortDescription: "Deploy a release with changegate (pre-approved standard change for demos)",
            templateSysID: "c4a9e0d1f5b34a6c8e2d7b9a1c3e5f71", versionSysID: "c4a9e0d1f5b34a6c8e2d7b9a1c3e5f72",
            categorySysID: "abbcbbbf47700200e90d87e8dee49041", categoryName: "Network Standard Changes", active: true,
            createdOn: "2024-01-15 09:00:00", updatedOn: "2024-01-15 09:00:00", createdBy: "admin",
            fields: [
                "short_description": demoName,
                "description": "Deployment run by changegate from a pre-approved standard change template.",
                "implementation_plan": "-- changegate runs the deployment command\r\n-- changegate records the outcome in the work notes",
                "backout_plan": "-- Redeploy the previous release",
                "test_plan": "-- Smoke tests run by the deployment pipeline",
                "assignment_group": Reference.changeManagementGroup,
            ],
            seeded: true
        ),
    ]
}
