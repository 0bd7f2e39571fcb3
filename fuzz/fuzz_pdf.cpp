// tresor-extract --mode=pdf: poppler on the bytes, the e-invoice among
// the embedded files, the page text. The input is the PDF.
#include "extract_main.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	using namespace tresor::extract;
	std::string doc(reinterpret_cast<const char *>(data), size);
	constexpr std::size_t max_text = 64 << 10;
	Warnings warnings;
	Result result;
	{
		PopplerMessagesInto messages(warnings);
		result = analyse_pdf(doc, max_text, warnings);
	}
	FUZZ_CHECK(result.text.size() <= max_text);
	(void)answer_json(result, warnings);
	return 0;
}
