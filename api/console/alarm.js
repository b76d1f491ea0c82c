// The alert on a new A-level incident: a banner that stays until acknowledged, a blinking tab title, and a
// two-tone alarm made with WebAudio (no sound file to serve). Browsers allow sound only after a user gesture,
// so the audio context is unlocked on the login click (or the first click after a reload).
import { t } from "./i18n.js";

const SOUND_KEY = "xueliang.sound";

export class Alarm {
  constructor() {
    this.audio = null;
    this.titleTimer = null;
    this.count = 0;
  }

  get enabled() {
    return localStorage.getItem(SOUND_KEY) !== "off";
  }

  set enabled(on) {
    localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  }

  unlock() {
    const AudioContext = window.AudioContext ?? window.webkitAudioContext;
    if (!AudioContext) return;
    this.audio ??= new AudioContext();
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
  }

  /** Show `text` (clicking it calls `open`), sound the alarm, blink the title. */
  raise(text, open) {
    this.count += 1;
    const banner = document.getElementById("alarm");
    const message = document.createElement("a");
    message.href = "#";
    message.textContent = `⚠ ${text}`;
    message.addEventListener("click", (event) => {
      event.preventDefault();
      this.clear();
      open();
    });
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.textContent = t("alarm.dismiss");
    dismiss.addEventListener("click", () => this.clear());
    banner.replaceChildren(message, dismiss);
    banner.hidden = false;
    document.body.dataset.alarms = String(this.count);
    this.blinkTitle();
    if (this.enabled) this.beep();
  }

  clear() {
    document.getElementById("alarm").hidden = true;
    clearInterval(this.titleTimer);
    this.titleTimer = null;
    document.title = document.title.replace(/^【A】/, "");
  }

  blinkTitle() {
    if (this.titleTimer) return;
    const base = document.title.replace(/^【A】/, "");
    let on = false;
    this.titleTimer = setInterval(() => {
      on = !on;
      document.title = on ? `【A】${base}` : base;
    }, 800);
  }

  beep() {
    this.unlock();
    const ctx = this.audio;
    if (!ctx) return;
    const start = ctx.currentTime + 0.02;
    for (let i = 0; i < 6; i += 1) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, start + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.25 + 0.22);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + i * 0.25);
      osc.stop(start + i * 0.25 + 0.24);
    }
    document.body.dataset.lastBeep = String(Date.now());
  }
}
