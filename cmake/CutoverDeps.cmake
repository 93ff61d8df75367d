# Third-party dependencies, all from Debian bookworm packages (see deploy/setup.sh).
find_package(Threads REQUIRED)
find_package(Protobuf CONFIG QUIET)
if(NOT Protobuf_FOUND)
  find_package(Protobuf REQUIRED)
endif()
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)

# PostgreSQL server binaries (initdb, postgres, pg_dump, pg_restore, pgbench).
find_program(CUTOVER_PG_CONFIG pg_config REQUIRED)
execute_process(COMMAND ${CUTOVER_PG_CONFIG} --bindir
                OUTPUT_VARIABLE CUTOVER_PG_BINDIR OUTPUT_STRIP_TRAILING_WHITESPACE)
if(EXISTS /usr/lib/postgresql/15/bin/initdb)
  set(CUTOVER_PG_BINDIR /usr/lib/postgresql/15/bin)
endif()
set(CUTOVER_PG_BINDIR "${CUTOVER_PG_BINDIR}" CACHE PATH "PostgreSQL server binaries")
find_program(CUTOVER_PGBOUNCER pgbouncer PATHS /usr/sbin /usr/bin)

# libpg_query (Debian libpg-query-dev): PostgreSQL's own parser as a library,
# for the migration linter (orchestrator/migrate). Debian ships no pkg-config
# file, so headers and library are found by name; the package also ships
# pg_query.proto, which orchestrator/migrate compiles for the typed parse tree.
find_path(PG_QUERY_INCLUDE_DIR pg_query.h REQUIRED)
find_library(PG_QUERY_LIBRARY pg_query REQUIRED)
find_file(PG_QUERY_PROTO pg_query.proto PATHS ${PG_QUERY_INCLUDE_DIR}/pg_query NO_DEFAULT_PATH REQUIRED)
add_library(cutover_pg_query_c INTERFACE)
target_include_directories(cutover_pg_query_c SYSTEM INTERFACE ${PG_QUERY_INCLUDE_DIR})
target_link_libraries(cutover_pg_query_c INTERFACE ${PG_QUERY_LIBRARY})

# cutoverd's HTTP listener (orchestrator/http): prometheus-cpp for metric
# families and the text format (core only: the listener is our own), civetweb
# for the server (Debian prometheus-cpp-dev, libcivetweb-dev).
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(civetweb CONFIG REQUIRED)
