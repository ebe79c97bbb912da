"""The bench's independent listener: transcribes WAV files with faster-whisper, offline, on the CPU.

Run by scripts/bench/listen/index.ts (`npm run bench -- --listen`) with the Python of the virtual environment that
`npm run listen:install` made (scripts/bench/listen/install.ts); never at test time.

Input (stdin, JSON): {"modelDir": str, "threads": int,
                      "configs": [{"name": str, "prompt": str | null, "beamSize": int}],
                      "files": [{"id": str, "path": str}]}
Output (stdout): one JSON object a line, {"config": name, "id": id, "text": transcript}, in input order per config;
progress on stderr. Decoding is deterministic (temperature 0 only, no previous-text conditioning, no VAD), so the
same audio gives the same text on the same machine.
"""
import json
import sys
import time


def main() -> int:
    job = json.load(sys.stdin)
    try:
        from faster_whisper import WhisperModel  # faster-whisper: https://github.com/SYSTRAN/faster-whisper
    except ImportError as err:  # the TS side checks first; this is the last word
        print(f"faster-whisper is not importable: {err}", file=sys.stderr)
        return 3
    model = WhisperModel(
        job["modelDir"],
        device="cpu",
        compute_type="int8",
        cpu_threads=int(job.get("threads", 2)),
        local_files_only=True,
    )
    files = job["files"]
    for config in job["configs"]:
        started = time.monotonic()
        for i, f in enumerate(files):
            segments, _info = model.transcribe(
                f["path"],
                language="en",
                task="transcribe",
                beam_size=int(config.get("beamSize", 5)),
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=config.get("prompt") or None,
                without_timestamps=True,
                vad_filter=False,
            )
            text = " ".join(s.text.strip() for s in segments).strip()
            sys.stdout.write(json.dumps({"config": config["name"], "id": f["id"], "text": text}) + "\n")
            sys.stdout.flush()
            if (i + 1) % 50 == 0:
                rate = (i + 1) / (time.monotonic() - started)
                print(f"{config['name']}: {i + 1}/{len(files)} ({rate:.1f} files/s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
