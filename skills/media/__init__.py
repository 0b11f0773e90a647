"""Media skills: download (yt-dlp behind the SSRF guard), transcribe (faster-whisper) and
render (moviepy). Heavy libraries are imported inside the functions that use them, so that
`skills.load_all()` stays quick."""
