# Build helpers shared by every module: one warnings target, the sanitizer
# option, and cutover_library / cutover_binary / cutover_test.

add_library(cutover_warnings INTERFACE)
# -Wno-restrict: GCC 12 false positives inside libstdc++ string code (GCC bug 105329).
target_compile_options(cutover_warnings INTERFACE -Wall -Wextra -Werror -Wno-unused-parameter $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)

add_library(cutover_sanitize INTERFACE)
if(CUTOVER_SANITIZE OR CUTOVER_FUZZ)
  target_compile_options(cutover_sanitize INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(cutover_sanitize INTERFACE -fsanitize=address,undefined)
endif()
# CUTOVER_FUZZ (clang only, implies the sanitizers): the libFuzzer targets in
# tests/fuzz. Every library also gets libFuzzer's coverage instrumentation
# (fuzzer-no-link) so the fuzzers see our code; ordinary binaries still link
# (the sanitizer runtime provides the coverage callbacks). docs/fuzzing.md.
if(CUTOVER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CUTOVER_FUZZ needs clang (libFuzzer ships with it), not ${CMAKE_CXX_COMPILER_ID}: "
            "configure with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ (see docs/fuzzing.md)")
  endif()
  target_compile_options(cutover_sanitize INTERFACE -fsanitize=fuzzer-no-link)
endif()

# The default suite runs `ctest -j2` (deploy/test.sh): every test holds this
# lock, so they run one at a time as before; only the clang sanitizer build,
# its unit tests and the fuzz smoke runs (tests/fuzz, CPU-bound for ~13 CPU-
# minutes) run beside them, on the other core. Add it to any add_test().
set(CUTOVER_SERIAL_LOCK cutover_serial)

# cutover_library(NAME <target> SRCS ... DEPS ... [PUBLIC_INCLUDE dir])
# Creates target cutover_<NAME> and alias cutover::<NAME>.
function(cutover_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;INCLUDES" ${ARGN})
  set(tgt cutover_${ARG_NAME})
  add_library(${tgt} STATIC ${ARG_SRCS})
  add_library(cutover::${ARG_NAME} ALIAS ${tgt})
  if(ARG_INCLUDES)
    target_include_directories(${tgt} PUBLIC ${ARG_INCLUDES})
  endif()
  target_link_libraries(${tgt} PUBLIC ${ARG_DEPS} PRIVATE cutover_warnings)
  target_link_libraries(${tgt} PUBLIC cutover_sanitize)
endfunction()

# cutover_binary(NAME <exe> SRCS ... DEPS ...)
function(cutover_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} cutover_warnings cutover_sanitize)
endfunction()

# cutover_test(NAME <test> SRCS ... DEPS ... LABELS unit|pg|kafka|e2e [TIMEOUT s])
# A GoogleTest binary registered with CTest under the given labels.
function(cutover_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main
                        cutover_warnings cutover_sanitize)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    RESOURCE_LOCK ${CUTOVER_SERIAL_LOCK}
    ENVIRONMENT "CUTOVER_SOURCE_DIR=${PROJECT_SOURCE_DIR};CUTOVER_BINARY_DIR=${PROJECT_BINARY_DIR};CUTOVER_PG_BINDIR=${CUTOVER_PG_BINDIR}")
  # Collected into the target cutover_unit_tests (tests/fuzz), which the
  # sanitizer build builds instead of everything.
  if("unit" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY CUTOVER_UNIT_TEST_TARGETS ${ARG_NAME})
  endif()
endfunction()
