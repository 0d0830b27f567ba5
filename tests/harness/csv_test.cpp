#include "harness/csv.h"

#include <gtest/gtest.h>

#include "tests/support/test_env.h"

namespace assay {
namespace {

std::vector<std::vector<std::string>> fields(const std::vector<CsvRecord>& recs) {
  std::vector<std::vector<std::string>> out;
  for (const auto& r : recs) out.push_back(r.fields);
  return out;
}

TEST(Csv, PlainRecordsAndLineNumbers) {
  auto r = parse_csv("a,b,c\n1,2,3\n", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(fields(*r), (std::vector<std::vector<std::string>>{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ((*r)[0].line, 1);
  EXPECT_EQ((*r)[1].line, 2);
}

TEST(Csv, QuotedFieldsWithCommasQuotesAndNewlines) {
  auto r = parse_csv("\"a, b\",\"say \"\"hi\"\"\",\"line1\nline2\"\nnext,x,y\n", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].fields, (std::vector<std::string>{"a, b", "say \"hi\"", "line1\nline2"}));
  // The second record starts on line 3 because the first spans two lines.
  EXPECT_EQ((*r)[1].line, 3);
}

TEST(Csv, CrlfNoFinalNewlineEmptyFieldsAndBlankLines) {
  auto r = parse_csv("a,,c\r\n\r\n,\r\nlast,\"\"", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(fields(*r), (std::vector<std::vector<std::string>>{
                            {"a", "", "c"}, {"", ""}, {"last", ""}}));
  EXPECT_EQ((*r)[1].line, 3);
}

TEST(Csv, TrailingCommaAtEndOfFile) {
  auto r = parse_csv("a,b,", "t.csv");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].fields, (std::vector<std::string>{"a", "b", ""}));
}

TEST(Csv, Utf8AndBom) {
  auto r = parse_csv("\xEF\xBB\xBFnaïve,日本\n", "t.csv");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].fields, (std::vector<std::string>{"naïve", "日本"}));
}

TEST(Csv, UnterminatedQuoteNamesItsLine) {
  auto r = parse_csv("ok,1\nbad,\"never closed\nmore\n", "x.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "x.csv:2: unterminated quoted field");
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

TEST(Csv, GarbageAfterClosingQuote) {
  auto r = parse_csv("a\n\"q\"x,1\n", "x.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "x.csv:2: unexpected character after closing quote");
}

TEST(Csv, FormatRoundTrips) {
  std::vector<std::string> rec = {"plain", "with,comma", "with \"quote\"", "multi\nline", ""};
  auto r = parse_csv(format_csv_record(rec), "t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].fields, rec);
}

TEST(Csv, ReadsEveryRealMmluFileWithSixColumns) {
  // The MMLU CSVs of the shared data: quotes, embedded newlines and commas occur in them.
  std::string dir = testing::data_dir() + "/mmlu/test";
  size_t rows = 0;
  for (const char* subject : {"abstract_algebra", "high_school_computer_science", "world_religions"}) {
    auto r = read_csv(dir + "/" + subject + "_test.csv");
    ASSERT_TRUE(r.ok()) << r.status().message();
    for (const auto& rec : *r) {
      ASSERT_EQ(rec.fields.size(), 6u) << subject << " line " << rec.line;
      EXPECT_TRUE(rec.fields[5] == "A" || rec.fields[5] == "B" || rec.fields[5] == "C" ||
                  rec.fields[5] == "D");
    }
    rows += r->size();
  }
  EXPECT_EQ(rows, 100u + 100u + 171u);
}

TEST(Csv, MissingFileIsNotFound) {
  auto r = read_csv("/nonexistent/x.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/x.csv"), std::string::npos);
}

}  // namespace
}  // namespace assay
