"""Media skills: download (yt-dlp behind the SSRF guard), transcribe (faster-whisper), render
(Piper narration, captions with Pillow, one ffmpeg filter graph) and the quality gate. Heavy
libraries are imported inside the functions that use them, so that `skills.load_all()` stays
quick."""
