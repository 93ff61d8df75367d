// Conversions between absl time types and google.protobuf Duration/Timestamp.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace cutover {

google::protobuf::Duration ToProto(absl::Duration d);
google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Duration FromProto(const google::protobuf::Duration& d);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
// "1h02m03s", "4.2s", "850ms": short and human.
std::string HumanDuration(absl::Duration d);
// "1.6 GB", "512 kB" (decimal units).
std::string HumanBytes(double bytes);
// "1.2M", "35.1k", "950".
std::string HumanCount(double n);

}  // namespace cutover
