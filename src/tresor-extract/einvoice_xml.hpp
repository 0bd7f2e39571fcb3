// Reads a structured e-invoice (XRechnung UBL and CII, ZUGFeRD 1 and its
// 2013/14 release candidate, ZUGFeRD 2 / Factur-X) from its XML: recognises
// it by root element and namespace. Exception-free on bad input, and only
// ever run inside the tresor-extract helper, under its resource limits:
// the XML is untrusted.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "extract/einvoice.hpp"

namespace tresor::einvoice {

// Larger documents are refused without parsing.
constexpr std::size_t kMaxXmlBytes = 16u << 20;
// Longest field value kept (bytes); longer values are cut at a UTF-8
// character boundary.
constexpr std::size_t kMaxFieldBytes = 1024;

// The invoice in xml, or nullopt when it is not a recognised e-invoice (or
// not XML at all, or larger than kMaxXmlBytes). inside_pdf: the XML was
// embedded in a PDF (CII then reports "factur-x"). Elements are matched by
// local name and namespace URI, never by prefix. DTDs and custom entities
// are not processed. Throws nothing but std::bad_alloc.
std::optional<Invoice> parse_xml(std::string_view xml, bool inside_pdf);

} // namespace tresor::einvoice
