"""Training moodchat's LoRA adapters on the CPU, beside the serving code.

It imports the engine, the roles and the weights reader; nothing that serves imports it.
``sentiment.train_sentiment`` builds the sentiment adapter and ``chat.train_chat`` the chat
adapter, on shared pieces: ``base`` (base model, identity, frozen-layer cache), ``layers``
(frozen/trainable split), ``lora`` (loop with a label or token loss, temperature),
``export`` (GGUF adapter writer), ``data`` (labelled texts, sampling, attacks) and
``conversations`` (chat data, filtering, mix).
"""
