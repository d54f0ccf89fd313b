"""hf_birthplace: CS224N's character-level GPT and its birthplace experiment on the Hugging Face stack.

Importing the package registers CharGPT with the Auto classes, so that a saved checkpoint loads with
`AutoConfig` / `AutoModel` / `AutoModelForCausalLM` / `AutoTokenizer`. `register_for_auto_class` makes
`save_pretrained` also write `auto_map` and the configuration/modeling files beside the weights, so that the
checkpoint loads with `trust_remote_code=True` where hf_birthplace is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from .configuration_char_gpt import CharGPTConfig
from .conversion import convert_a5_checkpoint, convert_a5_state_dict, load_a5_checkpoint
from .modeling_char_gpt import CharGPTForCausalLM, CharGPTModel, CharGPTPreTrainedModel
from .tokenization_char import MASK_CHAR, PAD_CHAR, build_char_tokenizer

# The single place where CharGPT meets the Auto classes.
AutoConfig.register(CharGPTConfig.model_type, CharGPTConfig, exist_ok=True)
AutoModel.register(CharGPTConfig, CharGPTModel, exist_ok=True)
AutoModelForCausalLM.register(CharGPTConfig, CharGPTForCausalLM, exist_ok=True)
# The tokenizer is a plain PreTrainedTokenizerFast: its tokenizer_config.json names its class, this mapping only
# serves checkpoints whose tokenizer config does not.
AutoTokenizer.register(CharGPTConfig, tokenizer_class=PreTrainedTokenizerFast, exist_ok=True)
CharGPTConfig.register_for_auto_class()
CharGPTModel.register_for_auto_class("AutoModel")
CharGPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "CharGPTConfig",
    "CharGPTPreTrainedModel",
    "CharGPTModel",
    "CharGPTForCausalLM",
    "PAD_CHAR",
    "MASK_CHAR",
    "build_char_tokenizer",
    "convert_a5_state_dict",
    "convert_a5_checkpoint",
    "load_a5_checkpoint",
]
