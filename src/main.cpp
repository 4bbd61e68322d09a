// The `pride` binary: subcommands are wired up in cli/ as the pieces land.
int main() { return 0; }
