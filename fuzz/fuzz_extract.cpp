// tresor-extract --mode=auto on one document: sniffing, OOXML/ODF from
// their zip container, any XML, plain text, PDF through poppler, and the
// e-invoice of an XML; then the JSON answer. Input: the first byte
// chooses the content-type hint, the rest is the document.
#include "extract_main.hpp"
#include "fuzz_util.hpp"
#include "invoice/suppliers.hpp"

namespace {

const char *const kTypes[] = {
	"",
	"text/plain",
	"text/plain; charset=iso-8859-1",
	"application/pdf",
	"application/xml",
	"text/xml",
	"text/html",
	"application/octet-stream",
	"application/zip",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"application/vnd.oasis.opendocument.text",
	"application/vnd.oasis.opendocument.spreadsheet",
	"application/vnd.oasis.opendocument.presentation",
	"image/png",
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	using namespace tresor::extract;
	if (size == 0)
		return 0;
	std::string_view type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
	std::string doc(reinterpret_cast<const char *>(data + 1), size - 1);
	constexpr std::size_t max_text = 64 << 10;

	Warnings warnings;
	Result result;
	{
		PopplerMessagesInto messages(warnings);
		result = analyse_any(doc, type, max_text, warnings);
	}
	FUZZ_CHECK(result.text.size() <= max_text);
	FUZZ_CHECK(tresor::suppliers::is_valid_utf8(result.text));
	std::string answer = answer_json(result, warnings);
	FUZZ_CHECK(!answer.empty() && answer.back() == '\n');

	// the helpers on the raw bytes
	std::string repaired = repair_utf8(std::string_view(doc).substr(0, 4096));
	FUZZ_CHECK(tresor::suppliers::is_valid_utf8(repaired));
	std::string cut = repaired;
	cut_utf8(cut, data[0]);
	FUZZ_CHECK(cut.size() <= data[0] && tresor::suppliers::is_valid_utf8(cut));
	TextSink sink(1000);
	sink.text(repaired);
	sink.separate('\t');
	sink.text(repaired);
	FUZZ_CHECK(sink.str().size() <= 1000);
	return 0;
}
