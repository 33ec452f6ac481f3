/**
 * The names notification settings choose from, in a module without I/O (the config schema loads it;
 * the HTTP and SMTP code loads only when a target is configured).
 */
export const WEBHOOK_PRESETS = ['generic', 'slack', 'discord', 'ntfy'] as const;
export type WebhookPreset = (typeof WEBHOOK_PRESETS)[number];

export const STARTTLS_MODES = ['required', 'opportunistic', 'off'] as const;
export type StarttlsMode = (typeof STARTTLS_MODES)[number];
