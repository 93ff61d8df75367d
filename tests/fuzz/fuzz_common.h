// What every libFuzzer target in tests/fuzz shares. Include it from exactly
// one translation unit per fuzzer: it defines LLVMFuzzerInitialize.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "google/protobuf/stubs/logging.h"

namespace cutover::fuzz {

// A violated property: libFuzzer treats the abort as a crash and saves the input.
[[noreturn]] inline void Fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s fuzzer: %s\n", target, what.c_str());
  std::abort();
}

}  // namespace cutover::fuzz

// Protobuf logs an ERROR line for every string that is not UTF-8; millions
// of them would bury the fuzzer's own report.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
