// cuda-emu (see cuda_emu.h): nothing of cuBLASLt is used yet.
#pragma once
#include "cublas_v2.h"
