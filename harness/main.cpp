#include "harness/cli/cli.h"

int main(int argc, char** argv) { return assay::cli::main(argc, argv); }
