// Progress lines: silent when asked, rate-limited, in place on a terminal, whole lines in a
// pipe, thread-safe counting.
#include "core/progress.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace spire {
namespace {

// What a Progress wrote to a temporary file.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, f)) > 0;) out.append(buffer, got);
  return out;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Progress, SilentWritesNothingAndCountsNothing) {
  Progress silent;
  EXPECT_FALSE(silent.enabled());
  silent.begin("work", 10);
  silent.add(10);
  silent.note("a line");
  silent.end();
}

TEST(Progress, APipeGetsWholeLinesNoMoreOftenThanTheInterval) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, false, 0.2);
    p.set_context("generation 3 of at most 30");
    p.begin("slicing", 100);
    for (int i = 0; i < 100; ++i) {
      p.add();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // 1 s in all: about 5 lines
    }
    p.end();
    p.note("done");
  }
  const std::string out = contents(f);
  std::fclose(f);
  const int lines = count(out, "\n");
  EXPECT_GE(lines, 3) << out;
  EXPECT_LE(lines, 7) << out;  // 1 s at one line per 0.2 s, and the note
  EXPECT_EQ(count(out, "\r"), 0) << out;
  EXPECT_NE(out.find("generation 3 of at most 30, slicing: "), std::string::npos) << out;
  EXPECT_NE(out.find(" of 100 ("), std::string::npos) << out;
  EXPECT_NE(out.find("elapsed, about "), std::string::npos) << out;
  EXPECT_NE(out.find(" left\n"), std::string::npos) << out;
  EXPECT_NE(out.find("done\n"), std::string::npos) << out;
}

TEST(Progress, ShortWorkPrintsNoLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, false, 5.0);
    p.begin("quick", 1000);
    p.add(1000);
    p.end();
  }
  EXPECT_EQ(contents(f), "");
  std::fclose(f);
}

TEST(Progress, ATerminalLineIsRewrittenInPlaceAndClearedBeforeANote) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, true, 5.0);
    p.begin("merging", 4);
    for (int i = 0; i < 4; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      p.add();
    }
    p.note("generation line");
  }
  const std::string out = contents(f);
  std::fclose(f);
  EXPECT_GE(count(out, "\r\033[Kmerging: "), 3) << out;
  EXPECT_NE(out.find("4 of 4 (100%)"), std::string::npos) << out;
  // The in-place line is erased before the note, which ends with a newline.
  EXPECT_NE(out.find("\r\033[Kgeneration line\n"), std::string::npos) << out;
  EXPECT_EQ(count(out, "\n"), 1) << out;
}

TEST(Progress, ThreadsCountEveryUnit) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, false, 0.0);  // a line whenever the printer is free
    p.begin("units", 8 * 20000);
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t)
      workers.emplace_back([&p] {
        for (int i = 0; i < 20000; ++i) p.add();
      });
    for (auto& w : workers) w.join();
    EXPECT_EQ(p.done(), 8 * 20000);
  }
  const std::string out = contents(f);
  std::fclose(f);
  // Lines were printed while the threads counted, and every line is whole.
  EXPECT_NE(out.find(" of 160000 ("), std::string::npos) << out.substr(0, 400);
  for (std::size_t start = 0, end; (end = out.find('\n', start)) != std::string::npos; start = end + 1)
    EXPECT_EQ(out.compare(start, 7, "units: "), 0) << out.substr(start, end - start);
}

TEST(Progress, DurationsReadAsAPersonWouldWriteThem) {
  EXPECT_EQ(Progress::duration(4.4), "4 s");
  EXPECT_EQ(Progress::duration(185), "3 min 05 s");
  EXPECT_EQ(Progress::duration(3720), "1 h 02 min");
  EXPECT_EQ(Progress::duration(-1), "-");
}

}  // namespace
}  // namespace spire
