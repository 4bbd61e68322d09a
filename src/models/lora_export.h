// The student's language model in the layouts Hugging Face tools load (`pride ckpt export --merged`
// and `--peft`): a transformers model directory with every LoRA adapter merged into its weight, or
// a PEFT adapter (adapter_config.json + adapter_model.safetensors) over the pretrained model the
// student started from (model.init_from). Guide: docs/models.md, "LoRA".
#pragma once

#include <string>

namespace pride {

// Writes into `dir` config.json (the pretrained model's, from the student card), model.safetensors
// (float32, Hugging Face names, W + alpha/rank * B A for each adapted projection) and the tokenizer
// files when the card knows them. The student's cross-attention must still be a no-op (its output
// projections zero: model.freeze memory), since that layout cannot hold it.
void export_merged(const std::string& checkpoint, const std::string& dir);

// Writes into `dir` a PEFT LoRA adapter for the pretrained model: adapter_config.json and
// adapter_model.safetensors ("base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight",
// ...). Needs a student trained with model.lora, its cross-attention a no-op as above.
void export_peft(const std::string& checkpoint, const std::string& dir);

}  // namespace pride
