// The auditor's instructions an evidence export writes as VERIFY.txt: the
// text of src/core/archive/VERIFY.txt, kept there as the text it is and
// compiled in by the rule in local.mk (which generates verify_text.cpp).
#pragma once

#include <string_view>

namespace tresor {

// With placeholders for EvidenceExport::verify_text() to fill in: @USER@,
// @FROM@, @TO@, @MAILBOXES@ (--mailbox, "" for all), @MADE@ (the export's
// time), and a line @KEY_IDS@ that stands for one indented line per seal
// key fingerprint.
std::string_view verify_text_template();

} // namespace tresor
