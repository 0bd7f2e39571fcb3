#include "common/utc_time.hpp"

#include <cstdio>

namespace tresor {

using namespace std::chrono;

std::string format_day(system_clock::time_point t)
{
	year_month_day ymd{floor<days>(t)};
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u", static_cast<int>(ymd.year()),
		      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
	return buf;
}

std::string format_utc_seconds(system_clock::time_point t)
{
	auto secs = floor<seconds>(t);
	auto day = floor<days>(secs);
	hh_mm_ss<seconds> hms{secs - day};
	char buf[48];
	std::snprintf(buf, sizeof(buf), "%sT%02d:%02d:%02dZ", format_day(t).c_str(),
		      static_cast<int>(hms.hours().count()),
		      static_cast<int>(hms.minutes().count()),
		      static_cast<int>(hms.seconds().count()));
	return buf;
}

} // namespace tresor
