"""Speech synthesis: the built-in synthetic dataset (`kws synth`), spoken by many synthetic speakers.

``tts`` wraps the TTS engines behind one interface (``kokoro``, ``rhvoice``, ``pico``: one module
each; ``engines`` names them all); ``shaping`` trims and places a word in a clip and
writes the background noise (numpy only); ``dataset`` builds the Speech Commands-layout tree from them.
"""
