// The registry of pride_fuzz_torch's targets: the readers that need LibTorch (see fuzz.h).
#include <hdf5.h>
#include <torch/torch.h>

#include "fuzz.h"

namespace pride::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // the readers report HDF5 errors themselves
    torch::set_num_threads(1);                    // tiny models: threads only cost start-up
    std::vector<Target> list = model_targets();
    for (Target& target : data_file_targets()) list.push_back(std::move(target));
    for (Target& target : judge_targets()) list.push_back(std::move(target));
    for (Target& target : preference_targets()) list.push_back(std::move(target));
    return list;
  }();
  return all;
}

}  // namespace pride::fuzz
