// Placeholder so the tree builds while the core is being written; replaced by the real
// command line in the next commit.
int main() { return 0; }
