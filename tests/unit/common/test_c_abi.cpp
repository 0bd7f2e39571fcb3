// The C ABI helpers (common/c_abi.hpp): no exception crosses into C.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "common/c_abi.hpp"

namespace c_abi = tresor::c_abi;

namespace {
struct Handle {
	int value = 0;
};
} // namespace

TEST(CAbiNewHandle, ReturnsTheHandleAndClearsTheError)
{
	char err[64] = "stale";
	Handle *h = c_abi::new_handle(err, sizeof(err), [] {
		auto p = std::make_unique<Handle>();
		p->value = 7;
		return p;
	});
	ASSERT_NE(h, nullptr);
	EXPECT_EQ(h->value, 7);
	EXPECT_STREQ(err, "");
	delete h;
}

TEST(CAbiNewHandle, AnExceptionBecomesNullAndItsText)
{
	char err[64] = "";
	Handle *h = c_abi::new_handle(err, sizeof(err), []() -> std::unique_ptr<Handle> {
		throw std::invalid_argument("no journal directory");
	});
	EXPECT_EQ(h, nullptr);
	EXPECT_STREQ(err, "no journal directory");
}

TEST(CAbiCopyOut, CutsAtACharacterBoundary)
{
	char out[4];
	c_abi::copy_out(out, sizeof(out), "ab\xc3\xa4"); // "abä" needs 5 bytes with NUL
	EXPECT_STREQ(out, "ab");
	c_abi::copy_out(out, sizeof(out), "abc");
	EXPECT_STREQ(out, "abc");
}
