// Times as the journal, the reports and the commands print them: UTC,
// ISO 8601.
#pragma once

#include <chrono>
#include <string>

namespace tresor {

// "2027-01-01"
std::string format_day(std::chrono::system_clock::time_point t);
// "2027-01-01T00:00:00Z"
std::string format_utc_seconds(std::chrono::system_clock::time_point t);

} // namespace tresor
