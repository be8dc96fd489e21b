"""Training moodchat's LoRA adapters on the CPU, beside the serving code.

It imports the engine, the roles and the weights reader; nothing that serves imports it.
``moodchat.training.sentiment.train_sentiment`` builds the sentiment adapter. The pieces a
chat adapter reuses: ``layers`` (frozen/trainable split), ``lora`` (cache, loop, temperature),
``export`` (GGUF adapter writer) and ``data`` (labelled texts, sampling, attacks).
"""
