// The converters on fixtures in the published formats (tests/data/dialogue/: ED's _comma_ and
// raw-comma overflow, MELD's quoted fields and encoding mix, ESConv's two speaker namings), the
// MELD feature references, and errors that name the file and line or record.
#include "data/h5.h"
#include "dialogue/converters.h"
#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "support.h"

namespace pride::dialogue {
namespace {

std::vector<DialogueText> collect(const std::function<ConvertStats(const SampleSink&)>& run,
                                  ConvertStats* stats = nullptr) {
  std::vector<DialogueText> samples;
  const ConvertStats s = run([&](const DialogueText& sample) { samples.push_back(sample); });
  if (stats) *stats = s;
  return samples;
}

std::vector<std::string> texts(const std::vector<Turn>& turns) {
  std::vector<std::string> out;
  for (const Turn& turn : turns) out.push_back(turn.speaker + ": " + turn.text);
  return out;
}

class ConvertersTest : public ScratchTest {};

TEST_F(ConvertersTest, EmpatheticDialoguesOneSamplePerListenerTurn) {
  ConvertStats stats;
  const auto samples = collect(
      [](const SampleSink& sink) {
        return convert_empathetic_dialogues(fixture("empathetic_dialogues.csv"), sink);
      },
      &stats);
  EXPECT_EQ(stats.dialogues, 3);
  ASSERT_EQ(samples.size(), 5u);
  std::vector<std::string> ids;
  for (const auto& s : samples) ids.push_back(s.id);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"hit:0_conv:1_utt2", "hit:0_conv:1_utt4", "hit:1_conv:2_utt2",
                                      "hit:1_conv:2_utt4", "hit:2_conv:3_utt2"}));
  const DialogueText& first = samples[1];
  EXPECT_EQ(first.label_set, "empathetic-dialogues-32");
  EXPECT_EQ(first.emotion, "sentimental");
  ASSERT_EQ(first.context.size(), 3u);
  EXPECT_EQ(first.context[0].speaker, "speaker");
  EXPECT_EQ(first.context[1].text,
            "Was this a friend you were in love with, or just a best friend?");
  EXPECT_EQ(first.response.speaker, "listener");
  EXPECT_EQ(first.response.text, "Where has she gone?");
  EXPECT_EQ(first.privileged.at("situation"),
            "I remember going to the fireworks with my best friend. There was a lot of people, "
            "but it only felt like us in the world.");
  // Raw commas in an utterance: the overflow fields are joined back.
  EXPECT_EQ(samples[2].response.text, "Oh no, that sounds terrifying, what did you do?");
  EXPECT_EQ(samples[2].context[0].text, "I heard footsteps behind me in the café parking lot.");
  EXPECT_EQ(samples[3].context[2].text, "I ran to my car — naïve maybe, but I was scared.");
  EXPECT_EQ(samples[3].response.text, "I'm glad you're safe 😊");
  // Raw commas in a prompt: joined back, speaker_idx and the utterance still found.
  EXPECT_EQ(samples[4].privileged.at("situation"),
            "My daughter finished her first marathon, in under 4 hours");
  EXPECT_EQ(samples[4].response.text, "Congratulations to her, that is amazing!");
  EXPECT_EQ(texts(samples[4].context), std::vector<std::string>{"speaker: She did it!"});
}

TEST_F(ConvertersTest, EmpatheticDialoguesErrorsNameTheLine) {
  const std::string header =
      "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n";
  const auto error = [&](const std::string& rows) {
    const std::string file = write("ed.csv", header + rows);
    return error_of([&] { convert_empathetic_dialogues(file, [](const DialogueText&) {}); });
  };
  EXPECT_HAS(error("c1,1,afraid,p,1,hi,,\nc1,2,happy,p,2,ho,,\n"),
             "ed.csv:3: context: emotion 'happy' is not in empathetic-dialogues-32");
  EXPECT_HAS(error("c1,1,afraid,p,1,hi,,\nc1,3,afraid,p,2,ho,,\n"),
             "ed.csv:3: utterance_idx 3 in conversation c1, expected 2");
  EXPECT_HAS(error("c1,1,afraid,p,1,hi,,\nc2,1,afraid,p,1,hi,,\nc1,2,afraid,p,2,ho,,\n"),
             "ed.csv:4: conversation c1 appears again (it began on line 2)");
  EXPECT_HAS(error("c1,1,afraid,p,1,hi\n"), "ed.csv:2: 6 fields, expected at least 8");
  EXPECT_HAS(error("c1,1,afraid,p,x,hi,,\n"), "ed.csv:2: no integer speaker_idx");
  const std::string bad_header = write("h.csv", "a,b,c\n");
  EXPECT_HAS(
      error_of([&] { convert_empathetic_dialogues(bad_header, [](const DialogueText&) {}); }),
      "h.csv:1: not an EmpatheticDialogues CSV");
}

TEST_F(ConvertersTest, MeldOneSamplePerUtteranceWithHistoryAndFuture) {
  ConvertStats stats;
  const auto samples = collect(
      [](const SampleSink& sink) { return convert_meld(fixture("meld.csv"), {}, sink); }, &stats);
  EXPECT_EQ(stats.dialogues, 3);
  ASSERT_EQ(samples.size(), 10u);
  // Dialogue 0, ordered by Utterance_ID (the fixture lists 3 before 2).
  EXPECT_EQ(samples[0].id, "dia0_utt0");
  EXPECT_TRUE(samples[0].context.empty());
  EXPECT_EQ(samples[0].response.text,
            "also I was the point person on my company’s transition from the KL-5 to GR-6 system.");
  EXPECT_EQ(samples[0].privileged.at("future_summary"),
            "The Interviewer: You must’ve had your hands full.\nChandler: That I did. That I did.\n"
            "The Interviewer: So let’s talk a little bit about your duties.");
  EXPECT_EQ(samples[3].id, "dia0_utt3");
  EXPECT_EQ(samples[3].response.text, "So let’s talk a little bit about your duties.");
  EXPECT_EQ(samples[3].context.size(), 3u);
  EXPECT_EQ(samples[4].emotion, "surprise");
  EXPECT_EQ(samples[4].privileged.count("future_summary"), 0u);  // the dialogue's last
  // Dialogue 1: quoted field with commas, doubled quotes, a line break; Windows-1252 and mojibake.
  EXPECT_EQ(samples[5].response.text, "He said, \"Pivot!\"\nAnd then, it fell.");
  EXPECT_EQ(samples[5].emotion, "anger");
  EXPECT_EQ(samples[6].response.text, "Oh my God… he’s lost it — totally.");
  EXPECT_EQ(texts(samples[7].context),
            (std::vector<std::string>{"Ross: He said, \"Pivot!\"\nAnd then, it fell.",
                                      "Rachel: Oh my God… he’s lost it — totally."}));
  EXPECT_EQ(samples[8].response.text, "Let’s go to the café.");
  EXPECT_EQ(samples[9].response.text, "No.");
  EXPECT_EQ(samples[9].label_set, "meld-7");
  EXPECT_FALSE(samples[0].audio || samples[0].visual);
}

TEST_F(ConvertersTest, MeldReferencesTheFeaturesTheFileHas) {
  const std::string features = path("meld.h5");
  {
    auto file = h5::File::open(features, h5::Mode::kCreate);
    for (int u = 0; u < 5; ++u) {
      const std::string key = "/features/dia0_utt" + std::to_string(u);
      file.create_rows(key + "/audio", h5::ElementType::kFloat32, 4)
          .append(std::vector<float>(8, u));
      file.create_rows(key + "/visual", h5::ElementType::kFloat32, 3)
          .append(std::vector<float>(3, u));
    }
    file.create_rows("/features/dia1_utt1/audio", h5::ElementType::kFloat32, 4)
        .append(std::vector<float>(4, 1));
  }
  ConvertStats stats;
  const auto samples = collect(
      [&](const SampleSink& sink) {
        return convert_meld(fixture("meld.csv"), {features, "meld.h5"}, sink);
      },
      &stats);
  ASSERT_EQ(samples.size(), 10u);
  EXPECT_EQ(stats.without_features, 4);  // dia1_utt0, dia1_utt2, dia2_*
  ASSERT_TRUE(samples[2].audio && samples[2].visual);
  EXPECT_EQ(samples[2].audio->file, "meld.h5");
  EXPECT_TRUE(samples[2].audio->key.empty());  // keyed by the sample id
  EXPECT_TRUE(samples[6].audio && !samples[6].visual);
  EXPECT_FALSE(samples[5].audio || samples[5].visual);

  {  // the references load the arrays
    FeatureLoader loader(dir_.string());
    const auto audio = loader.load(samples[2], Modality::kAudio);
    EXPECT_EQ(audio->frames, 2);
    EXPECT_EQ(audio->values, std::vector<float>(8, 2));
  }

  {  // a width that disagrees with the others is an error naming the dataset
    auto file = h5::File::open(features, h5::Mode::kReadWrite);
    file.create_rows("/features/dia2_utt0/audio", h5::ElementType::kFloat32, 5)
        .append(std::vector<float>(5, 0));
  }
  EXPECT_HAS(error_of([&] {
               collect([&](const SampleSink& sink) {
                 return convert_meld(fixture("meld.csv"), {features, "meld.h5"}, sink);
               });
             }),
             "meld.h5: /features/dia2_utt0/audio: width 5, but earlier audio features are 4 wide");
}

TEST_F(ConvertersTest, MeldErrorsNameTheLineTheRecordBeginsOn) {
  const std::string header =
      "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
      "StartTime,EndTime\n";
  const std::string row0 =
      "1,\"Hi,\nthere\",Ross,joy,positive,0,0,1,1,\"00:00:01,000\",\"00:00:02,000\"\n";
  const auto error = [&](const std::string& rows) {
    const std::string file = write("meld.csv", header + rows);
    return error_of([&] { convert_meld(file, {}, [](const DialogueText&) {}); });
  };
  EXPECT_HAS(error(row0 + "2,Yo,Joey,happy,positive,0,1,1,1,a,b\n"),
             "meld.csv:4: Emotion 'happy' is not in meld-7");
  EXPECT_HAS(error(row0 + "2,Yo,Joey,joy,positive,0,1,1,1\n"),
             "meld.csv:4: 9 fields, but the header has 11");
  EXPECT_HAS(error(row0 + "2,Yo,Joey,joy,positive,0,x,1,1,a,b\n"),
             "meld.csv:4: Utterance_ID 'x' is not a non-negative integer");
  EXPECT_HAS(error(row0 + "2,Yo,Joey,joy,positive,0,0,1,1,a,b\n"),
             "meld.csv:4: Dialogue_ID 0 Utterance_ID 0 again (first on line 2)");
  EXPECT_HAS(error(row0 + "2,\"Yo,Joey,joy\n"), "meld.csv:4: a quoted field is never closed");
  const std::string other = write("other.csv", "a,b\n1,2\n");
  EXPECT_HAS(error_of([&] { convert_meld(other, {}, [](const DialogueText&) {}); }),
             "other.csv:1: not a MELD CSV: the header has no 'Utterance' column");
}

TEST_F(ConvertersTest, EsconvOneSamplePerSupporterTurn) {
  ConvertStats stats;
  const auto samples = collect(
      [](const SampleSink& sink) { return convert_esconv(fixture("esconv.json"), sink); }, &stats);
  EXPECT_EQ(stats.dialogues, 2);
  EXPECT_EQ(stats.skipped_empty, 1);  // a supporter turn of only spaces
  ASSERT_EQ(samples.size(), 5u);
  EXPECT_EQ(samples[0].id, "conv0_turn0");
  EXPECT_TRUE(samples[0].context.empty());
  EXPECT_EQ(samples[0].label_set, "esconv-11");
  EXPECT_EQ(samples[0].emotion, "anxiety");
  EXPECT_EQ(samples[0].privileged.at("strategy"), "Question");
  EXPECT_EQ(samples[1].id, "conv0_turn3");
  EXPECT_EQ(texts(samples[1].context),
            (std::vector<std::string>{"supporter: Hello, what would you like to talk about?",
                                      "seeker: I’m worried about my job — they’re cutting staff.",
                                      "seeker: I can’t sleep. 😟"}));
  EXPECT_EQ(samples[1].response.speaker, "supporter");
  EXPECT_EQ(samples[1].privileged,
            (std::map<std::string, std::string>{
                {"problem", "job crisis"},
                {"situation", "I hope to find a new job, but the market is slow."},
                {"strategy", "Reflection of feelings"}}));
  EXPECT_EQ(samples[2].response.text, "Maybe update your résumé this week, so you feel ready?");
  // The speaker/listener naming (FailedESConv.json) reads the same.
  EXPECT_EQ(samples[3].id, "conv1_turn1");
  EXPECT_EQ(samples[3].emotion, "sadness");
  EXPECT_EQ(texts(samples[4].context),
            (std::vector<std::string>{"seeker: Hi.", "supporter: Hi, how are you feeling today?",
                                      "seeker: Sad. We broke up."}));
  EXPECT_EQ(samples[4].privileged.at("strategy"), "Self-disclosure");
}

TEST_F(ConvertersTest, EsconvErrorsNameTheRecord) {
  const auto error = [&](const std::string& json) {
    const std::string file = write("es.json", json);
    return error_of([&] { convert_esconv(file, [](const DialogueText&) {}); });
  };
  const std::string turn = R"({"speaker": "seeker", "annotation": {}, "content": "hi"})";
  const auto record = [&](const std::string& emotion, const std::string& turns) {
    return R"({"emotion_type": ")" + emotion +
           R"(", "problem_type": "p", "situation": "s", "dialog": [)" + turns + "]}";
  };
  EXPECT_HAS(error("[" + record("anxiety", turn) + "," + record("joy", turn) + "]"),
             "es.json: [1].emotion_type: 'joy' is not in esconv-11");
  EXPECT_HAS(error("[" + record("anger", turn + R"(, {"speaker": "bot", "content": "x"})") + "]"),
             "es.json: [0].dialog[1].speaker: 'bot' is neither seeker");
  EXPECT_HAS(error("[" + record("anger", R"({"speaker": "seeker", "content": 5})") + "]"),
             "es.json: [0].dialog[0].content: expected a string, got 5");
  EXPECT_HAS(error(R"([{"emotion_type": "anger", "situation": "s", "dialog": []}])"),
             "es.json: [0].problem_type: missing");
  EXPECT_HAS(error("[{\n\"emotion_type\": }]"), "es.json: not valid JSON");
  EXPECT_HAS(error("{}"), "es.json: (top level): expected an array of conversations");
}

TEST_F(ConvertersTest, ConvertWritesWholeFilesOrNothing) {
  ConvertOptions options{"esconv", fixture("esconv.json"), path("out.jsonl"), ""};
  EXPECT_EQ(convert(options).samples, 5);
  EXPECT_EQ(read_dialogue_jsonl(path("out.jsonl")).size(), 5u);

  options.in = write("bad.json", "[{}]");
  options.out = path("bad.jsonl");
  EXPECT_HAS(error_of([&] { convert(options); }), "bad.json: [0].emotion_type: missing");
  EXPECT_FALSE(std::filesystem::exists(path("bad.jsonl")));
  EXPECT_FALSE(std::filesystem::exists(path("bad.jsonl.partial")));

  options.features = path("f.h5");
  EXPECT_HAS(error_of([&] { convert(options); }), "--features: only MELD");
  options = {"dailydialog", fixture("esconv.json"), path("x.jsonl"), ""};
  EXPECT_HAS(error_of([&] { convert(options); }), "--from: unknown data set 'dailydialog'");
}

}  // namespace
}  // namespace pride::dialogue
