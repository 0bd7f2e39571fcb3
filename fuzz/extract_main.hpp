// The tresor-extract helper's document path, in-process: its translation
// unit is included here with main() renamed, so that the fuzz targets
// call the very functions (in its anonymous namespace) the helper runs.
#pragma once

#define main tresor_extract_main
#include "../src/tresor-extract/tresor-extract.cpp"
#undef main
