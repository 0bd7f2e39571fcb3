// DMARC aggregate reports for the unit tests (extract, invoice): one
// receiver's report on example.com, and python3 to pack it as receivers
// do (gzip, zip).
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace testutil {

// A report of example.com by a receiver: a server of the domain's own that
// passes, and one that sends in its name and fails both.
inline std::string report_text(const std::string &root_open = "<feedback>",
			const std::string &root_close = "</feedback>",
			const std::string &count = "2")
{
	return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + root_open +
	       R"(
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>1234567890</report_id>
    <date_range><begin>1767225600</begin><end>1767311999</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>Example.COM</domain><adkim>r</adkim><aspf>r</aspf>
    <p>quarantine</p><sp>none</sp><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>203.0.113.5</source_ip><count>)" + count + R"(</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from><envelope_from>example.com</envelope_from></identifiers>
    <auth_results>
      <dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim>
      <spf><domain>example.com</domain><scope>mfrom</scope><result>pass</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.66</source_ip><count>7</count>
      <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>FAIL</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results>
      <spf><domain>rechnung-example.net</domain><result>pass</result></spf>
    </auth_results>
  </record>
)" + root_close + "\n";
}

// bytes written by a python3 program reading the report on stdin
inline std::string made_by_python(const std::string &program, const std::string &input)
{
	testutil::TempDir d;
	testutil::write_file(d / "in", input);
	testutil::ShellRun run = testutil::run_shell("python3 -c '" + program + "' < '" +
						     (d / "in") + "' > '" + (d / "out") + "'");
	EXPECT_EQ(testutil::exit_code(run), 0) << run.out;
	return testutil::read_file(d / "out");
}

inline const char *kGzip = "import gzip, sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read()))";
inline const char *kZip = "import io, zipfile, sys\n"
		   "b = io.BytesIO()\n"
		   "with zipfile.ZipFile(b, \"w\", zipfile.ZIP_DEFLATED) as z:\n"
		   "    z.writestr(\"google.com!example.com!1767225600!1767311999.xml\", sys.stdin.buffer.read())\n"
		   "sys.stdout.buffer.write(b.getvalue())";

} // namespace testutil
