#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "features/users/users.hpp"

using namespace granite::users;

namespace {
// Cheap parameters: these tests are about behaviour, not cost.
const argon2_cost cheap{1, 64 * 1024};
}  // namespace

TEST(Passwords, Argon2idStringsVerifyOnlyTheirPassword) {
  auto hash = hash_password("correct horse battery", cheap);
  EXPECT_TRUE(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$")) << hash;
  EXPECT_NE(hash_password("correct horse battery", cheap), hash) << "every hash has its own salt";
  EXPECT_EQ(check_password(hash, "correct horse battery", cheap), password_check::right);
  EXPECT_EQ(check_password(hash, "correct horse batter", cheap), password_check::wrong);
  EXPECT_EQ(check_password(hash, "", cheap), password_check::wrong);
}

TEST(Passwords, NoAccountAndABrokenHashAreWrongNotErrors) {
  EXPECT_EQ(check_password(std::nullopt, "anything", cheap), password_check::wrong);
  EXPECT_EQ(check_password(std::string("$argon2id$garbage"), "anything", cheap), password_check::wrong);
  EXPECT_EQ(check_password(std::string(200, 'x'), "anything", cheap), password_check::wrong);
}

TEST(Passwords, AHashOfAnotherCostAsksForARehash) {
  auto old_hash = hash_password("correct horse battery", cheap);
  argon2_cost stronger{2, 128 * 1024};
  EXPECT_EQ(check_password(old_hash, "correct horse battery", stronger), password_check::right_but_rehash);
  EXPECT_EQ(check_password(old_hash, "wrong", stronger), password_check::wrong);
}

TEST(Tokens, Are256RandomBitsAndOnlyTheirDigestIsKept) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = new_token();
    EXPECT_TRUE(std::regex_match(t.text, std::regex("[A-Za-z0-9_-]{43}"))) << t.text;
    EXPECT_TRUE(std::regex_match(t.digest, std::regex("[0-9a-f]{64}"))) << t.digest;
    EXPECT_EQ(digest_of(t.text), t.digest);
    seen.insert(t.text);
  }
  EXPECT_EQ(seen.size(), 100u);
  // SHA-256 of the token's text (reference value from Python's hashlib).
  EXPECT_EQ(digest_of(std::string(43, 'A')), "0f007385b6f9d4b7eeb2748605afe1a984a0a3bfa3f014d09e2a784ce9e5cd1a");
  for (const std::string& bad : std::vector<std::string>{"", std::string(42, 'A'), std::string(44, 'A'), std::string(42, 'A') + "=",
                          std::string(42, 'A') + "+", std::string(42, 'A') + " "})
    EXPECT_FALSE(digest_of(bad)) << bad;
}
