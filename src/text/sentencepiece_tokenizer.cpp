// The SentencePiece .model backend, through Debian's libsentencepiece, reached through the
// pride_sentencepiece module (sentencepiece_module/) opened with RTLD_DEEPBIND: see there why.
// add_special adds BOS, as Llama 2's and Mistral's tokenizers do.
#include <dlfcn.h>
#include <xxhash.h>

#include <filesystem>

#include "text/tokenizer.h"
#include "text/unicode.h"
#include "util/error.h"

namespace pride::text {
namespace {

// AddressSanitizer refuses dlopen with RTLD_DEEPBIND (google/sanitizers#611). A sanitizer build
// (the fuzz harness, tests/fuzz/) links no LibTorch, so there is no second protobuf to keep apart.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kDeepBind = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kDeepBind = 0;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif

// The module's functions, resolved once per process.
struct Module {
  void* (*open)(const char*, std::string*);
  void (*close)(void*);
  void (*info)(void*, int*, std::string*);
  bool (*encode)(void*, const std::string*, std::vector<int>*, std::string*);
  bool (*decode)(void*, const std::vector<int>*, std::string*, std::string*);
};

// Beside the running binary first (a copied build), then where the build put it.
std::string module_path() {
  std::error_code error;
  const auto beside = std::filesystem::read_symlink("/proc/self/exe", error).parent_path() /
                      std::filesystem::path(PRIDE_SENTENCEPIECE_MODULE).filename();
  return !error && std::filesystem::exists(beside) ? beside.string() : PRIDE_SENTENCEPIECE_MODULE;
}

const Module& module() {
  static const Module loaded = [] {
    const std::string path = module_path();
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | kDeepBind);
    if (library == nullptr) fail("cannot load the SentencePiece module {}: {}", path, dlerror());
    const auto symbol = [&](const char* name) {
      void* address = dlsym(library, name);
      if (address == nullptr) fail("{}: no symbol {}", path, name);
      return address;
    };
    Module m;
    m.open = reinterpret_cast<decltype(m.open)>(symbol("pride_spm_open"));
    m.close = reinterpret_cast<decltype(m.close)>(symbol("pride_spm_close"));
    m.info = reinterpret_cast<decltype(m.info)>(symbol("pride_spm_info"));
    m.encode = reinterpret_cast<decltype(m.encode)>(symbol("pride_spm_encode"));
    m.decode = reinterpret_cast<decltype(m.decode)>(symbol("pride_spm_decode"));
    return m;
  }();
  return loaded;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& file) {
    std::string error;
    processor_.reset(module().open(file.c_str(), &error));
    if (processor_ == nullptr) fail("{}: not a SentencePiece model: {}", file, error);
    int info[5];
    std::string proto;
    module().info(processor_.get(), info, &proto);
    vocab_size_ = info[0];
    if (vocab_size_ < 1) fail("{}: a SentencePiece model without pieces", file);
    // -1 means none; any other id must be a piece (libsentencepiece checks this, pride does not
    // rely on it).
    const auto id = [&](int value, const char* name) -> std::optional<TokenId> {
      if (value < 0) return std::nullopt;
      if (value >= vocab_size_) {
        fail("{}: {} {} is not below the model's {} pieces", file, name, value, vocab_size_);
      }
      return value;
    };
    special_ = {id(info[1], "bos_id"), id(info[2], "eos_id"), id(info[3], "pad_id"),
                id(info[4], "unk_id")};
    file_ = file;
    identity_ = fmt::format("sentencepiece:{:016x}", XXH3_64bits(proto.data(), proto.size()));
  }

  std::vector<TokenId> encode(std::string_view text, bool add_special) const override {
    const std::string repaired = repair_utf8(text);
    std::vector<int> pieces;
    std::string error;
    if (!module().encode(processor_.get(), &repaired, &pieces, &error)) {
      fail("{}: SentencePiece encode failed: {}", file_, error);
    }
    std::vector<TokenId> ids;
    ids.reserve(pieces.size() + 1);
    if (add_special && special_.bos) ids.push_back(*special_.bos);
    for (const int piece : pieces) {
      if (piece < 0 || piece >= vocab_size_) {
        fail("{}: SentencePiece gave id {}, not below the model's {} pieces", file_, piece,
             vocab_size_);
      }
      ids.push_back(piece);
    }
    return ids;
  }

  std::string decode(const std::vector<TokenId>& ids) const override {
    for (const TokenId id : ids) {
      if (id < 0 || id >= vocab_size_) {
        fail("token id {} is not in the vocabulary (0..{})", id, vocab_size_ - 1);
      }
    }
    const std::vector<int> pieces(ids.begin(), ids.end());
    std::string text, error;
    if (!module().decode(processor_.get(), &pieces, &text, &error)) {
      fail("{}: SentencePiece decode failed: {}", file_, error);
    }
    return text;
  }

  int64_t vocab_size() const override { return vocab_size_; }
  const SpecialTokens& special_tokens() const override { return special_; }
  std::string identity() const override { return identity_; }

 private:
  // Closed however the constructor ends.
  std::unique_ptr<void, void (*)(void*)> processor_{nullptr, module().close};
  std::string file_;
  int64_t vocab_size_ = 0;
  SpecialTokens special_;
  std::string identity_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

}  // namespace pride::text
