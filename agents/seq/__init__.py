"""The sequence model: moves as tokens (``tokenizer``), transcript datasets (``transcripts``), the GPT
(``gpt``) with its cached decoding and move sampler (``decode``), the rules' view of token rows and the
legal-move error (``legal``), loading a trained GPT (``load``), pretraining (``pretrain``), GRPO
fine-tuning (``finetune``), board probes (``probe``) and the ``seq:`` player (``agent``)."""
