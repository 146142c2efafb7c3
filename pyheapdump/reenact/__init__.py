"""Real frames from dumped ones: the chains of frames per thread, line tables, generated code and the runner that
leaves a real, paused frame for each dumped one."""
