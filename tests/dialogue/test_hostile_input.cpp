// Hostile dialogue input (issue 19): very long dialogues convert in linear time with a capped
// context, wrong types and out-of-range values are errors naming the file and field, and feature
// datasets with absurd shapes or non-finite values are refused before anything is allocated.
#include <hdf5.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>

#include "data/h5.h"
#include "dialogue/converters.h"
#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "support.h"

namespace pride::dialogue {
namespace {

class HostileInputTest : public ScratchTest {
 protected:
  // Runs `convert` and checks every sample's context: at most the cap, the latest turns.
  int64_t convert_checking(const std::function<ConvertStats(const SampleSink&)>& convert) {
    int64_t samples = 0;
    const auto start = std::chrono::steady_clock::now();
    convert([&](const DialogueText& sample) {
      ++samples;
      EXPECT_LE(sample.context.size(), kDefaultMaxContextTurns);
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 30.0) << "not linear: " << samples << " samples took " << seconds << " s";
    return samples;
  }
};

TEST_F(HostileInputTest, FiftyThousandUtteranceEmpatheticDialogueIsLinear) {
  std::string csv = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n";
  for (int i = 1; i <= 50000; ++i) {
    csv += fmt::format("c1,{},sad,p,{},turn {},5|5|5_2|2|5,\n", i, i % 2, i);
  }
  const std::string file = write("ed.csv", csv);
  std::vector<std::string> last_context;
  EXPECT_EQ(convert_checking([&](const SampleSink& sink) {
              return convert_empathetic_dialogues(file, [&](const DialogueText& sample) {
                sink(sample);
                last_context.clear();
                for (const Turn& turn : sample.context) last_context.push_back(turn.text);
              });
            }),
            25000);
  ASSERT_EQ(last_context.size(), kDefaultMaxContextTurns);  // the latest 64 turns, in order
  EXPECT_EQ(last_context.front(), "turn 49936");
  EXPECT_EQ(last_context.back(), "turn 49999");
}

TEST_F(HostileInputTest, LongMeldAndEsconvDialoguesAreCapped) {
  std::string meld =
      "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
      "StartTime,EndTime\n";
  for (int i = 0; i < 20000; ++i)
    meld += fmt::format("{},u{},Joey,joy,positive,7,{},1,1,a,b\n", i, i, i);
  const std::string meld_file = write("meld.csv", meld);
  EXPECT_EQ(
      convert_checking([&](const SampleSink& sink) { return convert_meld(meld_file, {}, sink); }),
      20000);

  nlohmann::json dialog = nlohmann::json::array();
  for (int i = 0; i < 20000; ++i) {
    dialog.push_back({{"speaker", i % 2 ? "supporter" : "seeker"}, {"content", "t"}});
  }
  const nlohmann::json esconv = {{{"emotion_type", "anxiety"},
                                  {"problem_type", "job"},
                                  {"situation", "s"},
                                  {"dialog", dialog}}};
  const std::string esconv_file = write("esconv.json", esconv.dump());
  EXPECT_EQ(
      convert_checking([&](const SampleSink& sink) { return convert_esconv(esconv_file, sink); }),
      10000);
  // A smaller cap is honoured.
  convert_esconv(
      esconv_file, [](const DialogueText& sample) { EXPECT_LE(sample.context.size(), 3u); }, 3);
}

TEST_F(HostileInputTest, ManyCommaMarkersConvertInLinearTime) {
  std::string utterance;
  for (int i = 0; i < 200000; ++i) utterance += "a_comma_";
  const std::string file =
      write("ed.csv",
            "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n"
            "c1,1,sad,p,1,hi,5|5|5_2|2|5,\nc1,2,sad,p,0," +
                utterance + ",5|5|5_2|2|5,\n");
  EXPECT_EQ(convert_checking(
                [&](const SampleSink& sink) { return convert_empathetic_dialogues(file, sink); }),
            1);
}

TEST_F(HostileInputTest, EsconvWrongTypesNameTheRecordAndKey) {
  const auto error = [&](const std::string& text) {
    const std::string file = write("esconv.json", text);
    return error_of([&] { convert_esconv(file, [](const DialogueText&) {}); });
  };
  const std::string record =
      R"({"emotion_type": "anxiety", "problem_type": "job", "situation": "s", "dialog": DIALOG})";
  const auto with = [&](const std::string& dialog) {
    std::string text = "[" + record + "]";
    return text.replace(text.find("DIALOG"), 6, dialog);
  };
  EXPECT_HAS(error(with(R"("x")")), "esconv.json: [0].dialog: expected an array");
  EXPECT_HAS(error(with(R"([{"speaker": "seeker", "content": 5}])")),
             "[0].dialog[0].content: expected a string, got 5");
  EXPECT_HAS(error(with(R"([{"speaker": "supporter", "content": "a", "annotation": 7}])")),
             "[0].dialog[0].annotation: expected an object");
  EXPECT_HAS(error("{}"), "esconv.json: (top level): expected an array");
}

TEST_F(HostileInputTest, InlineFeatureValuesBeyondFloatAreErrors) {
  const std::string line = R"({"id":"a","label_set":"meld-7","emotion":"joy","context":[],)"
                           R"("response":{"speaker":"A","text":"hi"},"audio":[[1e300]]})";
  EXPECT_HAS(error_of([&] { parse_json_line(line, "x.jsonl:1"); }),
             "x.jsonl:1: audio[0][0]: expected a number within float32 range, got 1e+300");
}

// A feature file with /features/a/audio of the given dims (chunked, so declaring 2^40 rows
// costs nothing) and values.
std::string feature_file(const std::string& path, std::vector<hsize_t> dims, double first_value) {
  auto lock = h5::lock();
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t link = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link, 1);
  const std::vector<hsize_t> max_dims(dims.size(), H5S_UNLIMITED);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data());
  const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  const std::vector<hsize_t> chunk(dims.size(), 1);
  H5Pset_chunk(create, static_cast<int>(dims.size()), chunk.data());
  const hid_t dataset =
      H5Dcreate2(file, "/features/a/audio", H5T_NATIVE_FLOAT, space, link, create, H5P_DEFAULT);
  if (dims[0] * dims[1] <= 16) {
    std::vector<double> values(dims[0] * dims[1], 0.5);
    values[0] = first_value;
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  }
  H5Dclose(dataset);
  H5Pclose(create);
  H5Sclose(space);
  H5Pclose(link);
  H5Fclose(file);
  return path;
}

TEST_F(HostileInputTest, AbsurdFeatureShapesAndNonFiniteValuesAreRefused) {
  DialogueText sample;
  sample.id = "a";
  sample.audio.emplace();
  sample.audio->file = "f.h5";
  FeatureLoader loader(dir_.string());
  feature_file(path("f.h5"), {hsize_t{1} << 40, hsize_t{1} << 20}, 0.5);
  EXPECT_HAS(error_of([&] { loader.load(sample, Modality::kAudio); }),
             "f.h5: /features/a/audio: [1099511627776][1048576] is more than the 67108864 values");

  sample.audio->file = "g.h5";  // the loader keeps f.h5 open
  feature_file(path("g.h5"), {2, 2}, std::nan(""));
  EXPECT_HAS(error_of([&] { loader.load(sample, Modality::kAudio); }),
             "g.h5: /features/a/audio: a value is not a finite float32 (referenced by sample 'a')");
}

}  // namespace
}  // namespace pride::dialogue
