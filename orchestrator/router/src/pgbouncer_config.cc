#include "cutover/router/pgbouncer_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cutover/common/pg.h"
#include "cutover/common/status.h"

namespace cutover::router {
namespace {

// One "key = value" line of [databases], as offsets into the ini text.
struct EntryLine {
  size_t value_begin;  // first byte of the (trimmed) value
  size_t value_end;    // one past its last byte (before trailing blanks / EOL)
  std::string value;
};

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Every line of [databases] whose key is `database` (PgBouncer uses the last).
std::vector<EntryLine> FindEntries(absl::string_view ini, absl::string_view database) {
  std::vector<EntryLine> found;
  bool in_databases = false;
  size_t pos = 0;
  while (pos < ini.size()) {
    size_t eol = ini.find('\n', pos);
    if (eol == absl::string_view::npos) eol = ini.size();
    size_t b = pos, e = eol;
    while (b < e && IsBlank(ini[b])) ++b;
    while (e > b && IsBlank(ini[e - 1])) --e;
    absl::string_view line = ini.substr(b, e - b);
    if (!line.empty() && line[0] == '[') {
      size_t close = line.find(']');
      std::string section(line.substr(1, close == absl::string_view::npos ? line.size() - 1 : close - 1));
      in_databases = absl::AsciiStrToLower(absl::StripAsciiWhitespace(section)) == "databases";
    } else if (in_databases && !line.empty() && line[0] != ';' && line[0] != '#') {
      std::string key;
      size_t eq = absl::string_view::npos;
      if (line[0] == '"') {
        size_t q = line.find('"', 1);
        if (q != absl::string_view::npos) {
          key = std::string(line.substr(1, q - 1));
          eq = line.find('=', q + 1);
        }
      } else {
        eq = line.find('=');
        if (eq != absl::string_view::npos) {
          key = std::string(absl::StripAsciiWhitespace(line.substr(0, eq)));
        }
      }
      if (eq != absl::string_view::npos && key == database) {
        size_t vb = b + eq + 1;
        while (vb < e && IsBlank(ini[vb])) ++vb;
        found.push_back({vb, e, std::string(ini.substr(vb, e - vb))});
      }
    }
    pos = eol + 1;
  }
  return found;
}

absl::Status MissingEntry(absl::string_view database, absl::string_view path) {
  return absl::FailedPreconditionError(
      absl::StrCat("pgbouncer config ", path, " has no entry '", database,
                   " = ...' in its [databases] section; add one (the router rewrites it, never adds it)"));
}

absl::Status Errno(absl::string_view what, absl::string_view path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  if (err == ENOENT || err == ENOTDIR) return absl::FailedPreconditionError(msg);
  return absl::UnavailableError(msg);  // ENOSPC, EIO, ...: may clear
}

}  // namespace

absl::StatusOr<std::string> FindDatabaseEntry(absl::string_view ini, absl::string_view database,
                                              absl::string_view path) {
  auto entries = FindEntries(ini, database);
  if (entries.empty()) return MissingEntry(database, path);
  return entries.back().value;
}

absl::StatusOr<std::string> RewriteDatabaseEntry(absl::string_view ini, absl::string_view database,
                                                 absl::string_view connstr, absl::string_view path) {
  if (absl::StrContains(connstr, "\n") || absl::StrContains(connstr, "\r")) {
    return absl::InvalidArgumentError(
        absl::StrCat("connection string for '", database, "' contains a line break"));
  }
  auto entries = FindEntries(ini, database);
  if (entries.empty()) return MissingEntry(database, path);
  std::string out;
  size_t copied = 0;
  for (const EntryLine& e : entries) {
    absl::StrAppend(&out, ini.substr(copied, e.value_begin - copied));
    // "key =" with nothing after it: keep one blank between '=' and the value.
    if (e.value_begin == e.value_end && ini[e.value_begin - 1] == '=') out += ' ';
    absl::StrAppend(&out, connstr);
    copied = e.value_end;
  }
  absl::StrAppend(&out, ini.substr(copied));
  return out;
}

bool SameConnString(absl::string_view a, absl::string_view b) {
  auto pa = pg::ParseDsn(a, "connection string");
  auto pb = pg::ParseDsn(b, "connection string");
  if (pa.ok() && pb.ok()) return *pa == *pb;
  return absl::StripAsciiWhitespace(a) == absl::StripAsciiWhitespace(b);
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  struct stat orig {};
  bool have_orig = ::stat(path.c_str(), &orig) == 0;
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmpl = absl::StrCat(path, ".cutover-XXXXXX");
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) return Errno("cannot create a temporary file next to", path);
  const std::string tmp(name.data());
  auto fail = [&](absl::string_view what) {
    absl::Status st = Errno(what, tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  size_t off = 0;
  while (off < contents.size()) {
    ssize_t w = ::write(fd, contents.data() + off, contents.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return fail("cannot write");
    off += static_cast<size_t>(w);
  }
  if (have_orig) {
    if (::fchmod(fd, orig.st_mode & 07777) != 0) return fail("cannot chmod");
    struct stat now {};
    if (::fstat(fd, &now) != 0) return fail("cannot stat");
    if ((now.st_uid != orig.st_uid || now.st_gid != orig.st_gid) &&
        ::fchown(fd, orig.st_uid, orig.st_gid) != 0) {
      return fail("cannot give the original owner to");
    }
  } else if (::fchmod(fd, 0644) != 0) {
    return fail("cannot chmod");
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    absl::Status st = Errno("cannot close", tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st = Errno("cannot rename the temporary file over", path);
    ::unlink(tmp.c_str());
    return st;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is done either way
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace cutover::router
