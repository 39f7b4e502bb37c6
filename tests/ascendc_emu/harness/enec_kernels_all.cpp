// One translation unit holding every enec kernel, for the CPU harness (build.sh takes one kernel file).
#include "../../../op_kernel/enec_compress.cpp"
#include "../../../op_kernel/enec_decompress.cpp"
#include "../../../op_kernel/enec_params.cpp"
