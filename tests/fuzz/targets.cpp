// The registry of the sanitized harness's targets, the LibTorch-free readers (see fuzz.h).
#include <hdf5.h>

#include "fuzz.h"

namespace pride::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // the readers report HDF5 errors themselves
    std::vector<Target> list;
    for (auto group : {text_targets(), dialogue_targets(), data_targets()}) {
      list.insert(list.end(), group.begin(), group.end());
    }
    return list;
  }();
  return all;
}

}  // namespace pride::fuzz
