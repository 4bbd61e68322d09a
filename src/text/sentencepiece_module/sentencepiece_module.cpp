// A loadable module around Debian's libsentencepiece. libsentencepiece exports the protobuf-lite
// it bundles under protobuf's own symbol names; linked into the same binary as LibTorch (which
// loads libprotobuf.so) the two copies interpose and the process crashes while loading. pride
// opens this module with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) so that each library binds to its own
// copy (see sentencepiece_tokenizer.cpp). Same compiler on both sides: C++ types cross the
// boundary, only the names are C.
#include <sentencepiece_processor.h>

#include <string>
#include <vector>

extern "C" {

// Returns a processor, or nullptr with the reason in *error.
void* pride_spm_open(const char* path, std::string* error) {
  auto* processor = new sentencepiece::SentencePieceProcessor;
  const auto status = processor->Load(path);
  if (status.ok()) return processor;
  *error = status.ToString();
  delete processor;
  return nullptr;
}

void pride_spm_close(void* processor) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(processor);
}

// vocabulary size, bos, eos, pad, unk (-1: none), and the serialized model.
void pride_spm_info(void* handle, int info[5], std::string* proto) {
  const auto* processor = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  info[0] = processor->GetPieceSize();
  info[1] = processor->bos_id();
  info[2] = processor->eos_id();
  info[3] = processor->pad_id();
  info[4] = processor->unk_id();
  *proto = processor->serialized_model_proto();
}

bool pride_spm_encode(void* handle, const std::string* text, std::vector<int>* ids,
                      std::string* error) {
  const auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(*text, ids);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

bool pride_spm_decode(void* handle, const std::vector<int>* ids, std::string* text,
                      std::string* error) {
  const auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(*ids, text);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

}  // extern "C"
