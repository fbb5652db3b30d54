import CLI

/// The `changegate` executable: everything lives in the CLI library.
@main
struct Entry {
    static func main() async {
        await Changegate.main()
    }
}
