#include "json/json_writer.h"

#include "gtest/gtest.h"

namespace plby::json {
namespace {

std::string Quoted(absl::string_view text) { return JsonWriter().String(text).text(); }

TEST(JsonWriterTest, BuildsCompactDocuments) {
  JsonWriter writer;
  writer.BeginObject().Key("a").Number(-1).Key("b").BeginArray().Unsigned(2).Bool(true);
  writer.EndArray().Key("c").String("x").EndObject();
  EXPECT_EQ(writer.text(), R"({"a":-1,"b":[2,true],"c":"x"})");
}

TEST(JsonWriterTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(Quoted("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
  EXPECT_EQ(Quoted(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
}

TEST(JsonWriterTest, KeepsWellFormedUtf8AndReplacesTheRest) {
  // U+00E9 (2 bytes), U+20AC (3), U+1F600 (4): kept as they are.
  EXPECT_EQ(Quoted("\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  // A stray continuation byte, a truncated sequence, an overlong '/', a surrogate, a code
  // point past U+10FFFF, a byte no sequence starts with: each invalid byte becomes U+FFFD.
  EXPECT_EQ(Quoted("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(Quoted("\xE2\x82"), R"("\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xC0\xAF"), R"("\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xFF"), R"("\ufffd")");
}

}  // namespace
}  // namespace plby::json
