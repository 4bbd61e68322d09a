// The dialogue text format: write/read round trip, every strict-reading error (naming file and
// line), the writer's refusals, features inline and in an HDF5 feature file, the CSV record
// reader and the UTF-8/Windows-1252 repair.
#include "data/h5.h"
#include "dialogue/csv.h"
#include "dialogue/dialogue.h"
#include "dialogue/encoding.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "support.h"

namespace pride::dialogue {
namespace {

DialogueText sample(const std::string& id) {
  DialogueText s;
  s.id = id;
  s.label_set = kMeld7;
  s.emotion = "joy";
  s.context = {{"Ross", "He said, \"Pivot!\"\nAnd then it fell."}, {"Rachel", "Oh my God… 😊"}};
  s.response = {"Ross", "Okay, okay."};
  s.privileged = {{"future_summary", "Rachel: Stop."}, {"situation", "moving a couch"}};
  return s;
}

class FormatTest : public ScratchTest {
 protected:
  // The error of reading `lines` (joined by '\n') as a JSONL file.
  std::string read_error(const std::string& lines) {
    const std::string file = write("bad.jsonl", lines);
    return error_of([&] { read_dialogue_jsonl(file); });
  }
  std::string line_of(const DialogueText& s) { return to_json_line(s); }
};

TEST_F(FormatTest, RoundTripKeepsEverything) {
  DialogueText a = sample("dia1_utt2");
  a.audio = Features{{2, 3, {1, 2, 3, 4, 5, 6.5f}}, "", ""};
  a.visual = Features{{}, "features/meld.h5", "dia9_utt9"};
  DialogueText b = sample("dia1_utt3");
  b.context.clear();
  b.privileged.clear();
  DialogueWriter writer(path("out.jsonl"));
  writer.write(a);
  writer.write(b);
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl")));  // only after close()
  writer.close();

  const auto read = read_dialogue_jsonl(path("out.jsonl"));
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].id, "dia1_utt2");
  EXPECT_EQ(read[0].context[0].text, a.context[0].text);
  EXPECT_EQ(read[0].context[1].text, "Oh my God… 😊");
  EXPECT_EQ(read[0].response.speaker, "Ross");
  EXPECT_EQ(read[0].privileged, a.privileged);
  ASSERT_TRUE(read[0].audio && !read[0].audio->is_reference());
  EXPECT_EQ(read[0].audio->values.frames, 2);
  EXPECT_EQ(read[0].audio->values.dim, 3);
  EXPECT_EQ(read[0].audio->values.values, a.audio->values.values);
  ASSERT_TRUE(read[0].visual && read[0].visual->is_reference());
  EXPECT_EQ(read[0].visual->file, "features/meld.h5");
  EXPECT_EQ(read[0].visual->key, "dia9_utt9");
  EXPECT_TRUE(read[1].context.empty());
  EXPECT_TRUE(read[1].privileged.empty());
  EXPECT_FALSE(read[1].audio || read[1].visual);
}

TEST_F(FormatTest, KeysComeInTheDocumentedOrder) {
  const std::string prefix =
      R"({"id":"x","label_set":"meld-7","emotion":"joy","context":[{"speaker":"Ross","text":)";
  EXPECT_EQ(line_of(sample("x")).rfind(prefix, 0), 0u) << line_of(sample("x"));
}

TEST_F(FormatTest, StrictReadingNamesFileLineAndField) {
  const std::string good = line_of(sample("a"));
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string line = line_of(sample("b"));
    const size_t at = line.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return good + "\n" + line.replace(at, from.size(), to) + "\n";
  };
  EXPECT_HAS(read_error(with(R"("emotion":"joy")", R"("emotion":"joy","mood":1)")),
             "bad.jsonl:2: (top level): unknown key 'mood'");
  EXPECT_HAS(read_error(with(R"("speaker":"Ross","text")", R"("speaker":"Ross","who":1,"text")")),
             "bad.jsonl:2: context[0]: unknown key 'who'");
  EXPECT_HAS(read_error(with(R"("id":"b")", R"("id":7)")),
             "bad.jsonl:2: id: expected a string, got 7");
  EXPECT_HAS(read_error(with(R"("context":[{"speaker":"Ross","text":"He said)",
                             R"("context":[{"speaker":"Ross","text":5,"t":"He said)")),
             "bad.jsonl:2: context[0]: unknown key 't'");
  EXPECT_HAS(
      read_error(good + "\n" + R"({"id":"b","label_set":"meld-7","emotion":"joy","context":"hi"})"),
      "bad.jsonl:2: context: expected an array");
  EXPECT_HAS(read_error(with(R"(,"response":{"speaker":"Ross","text":"Okay, okay."})", "")),
             "bad.jsonl:2: response: missing");
  EXPECT_HAS(read_error(with(R"("text":"Okay, okay.")", R"("text":"")")),
             "bad.jsonl:2: response.text: empty");
  EXPECT_HAS(read_error(with(R"("emotion":"joy")", R"("emotion":"sentimental")")),
             "bad.jsonl:2: emotion: 'sentimental' is not in label set meld-7");
  EXPECT_HAS(read_error(with(R"("label_set":"meld-7")", R"("label_set":"meld-8")")),
             "bad.jsonl:2: label_set: unknown label set 'meld-8'");
  EXPECT_HAS(read_error(with(R"("situation":"moving a couch")", R"("situation":3)")),
             "bad.jsonl:2: privileged.situation: expected a string");
  EXPECT_HAS(read_error(with(R"("situation")", R"("bad name")")),
             "bad.jsonl:2: privileged: source name 'bad name'");
  EXPECT_HAS(read_error(with(R"("id":"b")", R"("id":"a/b")")),
             "bad.jsonl:2: id: 'a/b' is not a valid id");
  EXPECT_HAS(read_error(with(R"("id":"b")", R"("id":"a")")),
             "bad.jsonl:2: duplicate id 'a' (first at line 1)");
  EXPECT_HAS(read_error(with(R"("privileged")", R"("audio":[[1,2],[3]],"privileged")")),
             "bad.jsonl:2: audio[1]: 1 values, but frame 0 has 2");
  EXPECT_HAS(read_error(with(R"("privileged")", R"("audio":[[1,"x"]],"privileged")")),
             "bad.jsonl:2: audio[0][1]: expected a number within float32 range");
  EXPECT_HAS(read_error(with(R"("privileged")", R"("visual":[],"privileged")")),
             "bad.jsonl:2: visual: expected [frames][dim]");
  EXPECT_HAS(
      read_error(with(R"("privileged")", R"("visual":{"file":"f.h5","path":"x"},"privileged")")),
      "bad.jsonl:2: visual: unknown key 'path' (known: file, key)");
  EXPECT_HAS(read_error(with(R"("privileged")", R"("audio":{"file":""},"privileged")")),
             "bad.jsonl:2: audio.file: empty");
  EXPECT_HAS(read_error(good + "\n{\"id\": \n"), "bad.jsonl:2: not valid JSON");
  EXPECT_HAS(read_error(good + "\n\n" + good + "\n"), "bad.jsonl:2: empty line");
  EXPECT_HAS(read_error("[1, 2]\n"), "bad.jsonl:1: (top level): expected an object");
  EXPECT_HAS(error_of([&] { read_dialogue_jsonl(path("absent.jsonl")); }),
             "absent.jsonl: cannot open");
}

TEST_F(FormatTest, StreamingReaderCountsLines) {
  write("two.jsonl", line_of(sample("a")) + "\n" + line_of(sample("b")) + "\n");
  DialogueReader reader(path("two.jsonl"));
  DialogueText s;
  ASSERT_TRUE(reader.next(s));
  EXPECT_EQ(reader.line_number(), 1);
  ASSERT_TRUE(reader.next(s));
  EXPECT_EQ(s.id, "b");
  EXPECT_EQ(reader.line_number(), 2);
  EXPECT_FALSE(reader.next(s));
}

TEST_F(FormatTest, WriterRefusesWhatTheReaderWouldAndLeavesNoFile) {
  {
    DialogueWriter writer(path("out.jsonl"));
    writer.write(sample("a"));
    DialogueText bad = sample("b");
    bad.emotion = "happy";
    EXPECT_HAS(error_of([&] { writer.write(bad); }),
               "out.jsonl: sample 2 (id 'b'): emotion: 'happy' is not in label set");
    EXPECT_HAS(error_of([&] { writer.write(sample("a")); }),
               "duplicate id 'a' (first at sample 1)");
  }  // not closed: nothing is left behind
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl")));
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl.partial")));
}

TEST_F(FormatTest, LabelSets) {
  EXPECT_EQ(label_set(kEmpatheticDialogues32).labels.size(), 32u);
  EXPECT_EQ(label_set(kMeld7).labels.size(), 7u);
  EXPECT_EQ(label_set(kEsconv11).labels.size(), 11u);
  EXPECT_EQ(label_set(kMeld7).index_of("neutral"), 4);
  EXPECT_EQ(label_set(kMeld7).index_of("happy"), -1);
  EXPECT_HAS(error_of([] { label_set("goemotions"); }),
             "unknown label set 'goemotions' (known: empathetic-dialogues-32");
}

TEST_F(FormatTest, FeatureFileReferencesResolveAgainstTheJsonlDirectory) {
  std::filesystem::create_directories(dir_ / "feats");
  {
    auto file = h5::File::open(path("feats/f.h5"), h5::Mode::kCreate);
    file.create_rows("/features/a/audio", h5::ElementType::kFloat32, 2)
        .append(std::vector<float>{1, 2, 3, 4, 5, 6});
    file.create_rows("/features/other/visual", h5::ElementType::kFloat16, 3)
        .append(std::vector<float>{0.5f, 1, 2});
  }
  DialogueText s = sample("a");
  s.audio = Features{{}, "feats/f.h5", ""};
  s.visual = Features{{}, "feats/f.h5", "other"};
  FeatureLoader loader(dir_.string());
  const auto audio = loader.load(s, Modality::kAudio);
  ASSERT_TRUE(audio);
  EXPECT_EQ(audio->frames, 3);
  EXPECT_EQ(audio->dim, 2);
  EXPECT_EQ(audio->values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const auto visual = loader.load(s, Modality::kVisual);
  ASSERT_TRUE(visual);
  EXPECT_EQ(visual->values, (std::vector<float>{0.5f, 1, 2}));

  s.visual->key = "";  // /features/a/visual does not exist
  EXPECT_HAS(error_of([&] { loader.load(s, Modality::kVisual); }),
             "f.h5: /features/a/visual: missing (referenced by sample 'a')");
  s.audio->file = "feats/none.h5";
  EXPECT_HAS(error_of([&] { loader.load(s, Modality::kAudio); }), "none.h5: no such feature file");
  DialogueText inline_only = sample("b");
  inline_only.audio = Features{{1, 1, {7}}, "", ""};
  EXPECT_EQ(loader.load(inline_only, Modality::kAudio)->values, std::vector<float>{7});
  EXPECT_FALSE(loader.load(inline_only, Modality::kVisual));
}

TEST(Csv, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  const std::string text =
      "a,b,c\r\n1,\"x, y\",\"He said \"\"hi\"\"\nthen left\"\r\n\n2,,\"\"\n3,\"tail\"end,z";
  CsvReader reader(text, "t.csv");
  std::vector<std::string> f;
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(reader.record_line(), 2);
  EXPECT_EQ(f, (std::vector<std::string>{"1", "x, y", "He said \"hi\"\nthen left"}));
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(reader.record_line(), 5);
  EXPECT_EQ(f, (std::vector<std::string>{"2", "", ""}));
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"3", "tailend", "z"}));
  EXPECT_FALSE(reader.next(f));

  CsvReader open("a\nb,\"never\nclosed", "t.csv");
  ASSERT_TRUE(open.next(f));
  EXPECT_HAS(error_of([&] { open.next(f); }), "t.csv:2: a quoted field is never closed");
}

TEST(Csv, SplitAndIndices) {
  EXPECT_EQ(split_commas("a,,b_comma_c,\r"), (std::vector<std::string>{"a", "", "b_comma_c", ""}));
  EXPECT_EQ(parse_index("0"), 0);
  EXPECT_EQ(parse_index("120"), 120);
  EXPECT_EQ(parse_index("007"), -1);
  EXPECT_EQ(parse_index(" 7"), -1);
  EXPECT_EQ(parse_index("-1"), -1);
  EXPECT_EQ(parse_index(""), -1);
  EXPECT_EQ(trim("  a b \r\n"), "a b");
}

TEST(Encoding, RepairsWindows1252AndMojibakeKeepsValidUtf8) {
  EXPECT_EQ(decode_mixed_text("plain ASCII, 100%"), "plain ASCII, 100%");
  EXPECT_EQ(decode_mixed_text("caf\xC3\xA9 \xF0\x9F\x98\x8A \xE2\x80\x99"), "café 😊 ’");
  EXPECT_EQ(decode_mixed_text("company\x92s"), "company’s");  // raw Windows-1252
  EXPECT_EQ(decode_mixed_text("Oh\x85 \x93hi\x94 \x97 caf\xE9"), "Oh… “hi” — café");
  EXPECT_EQ(decode_mixed_text("let\xC2\x92s"), "let’s");                        // C1 control U+0092
  EXPECT_EQ(decode_mixed_text("he\xC3\xA2\xE2\x82\xAC\xE2\x84\xA2s"), "he’s");  // â€™
  EXPECT_EQ(decode_mixed_text("caf\xC3\x83\xC2\xA9"), "café");                  // Ã©
  EXPECT_EQ(decode_mixed_text("I\x92m in a caf\xC3\xA9"), "I’m in a café");     // both in one field
  EXPECT_EQ(decode_mixed_text("\xC3\xA2 alone, \xC3\x83 too"), "â alone, Ã too");
  EXPECT_EQ(decode_mixed_text("\x81\x8D"), "\xC2\x81\xC2\x8D");  // undefined in Windows-1252
}

}  // namespace
}  // namespace pride::dialogue
