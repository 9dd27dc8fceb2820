import { Type, type Static } from '@fastify/type-provider-typebox';

/** An origin as a browser reports it: scheme, host, optional port; no path. */
export const Origin = Type.String({
  maxLength: 200,
  pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$',
});

/** What an admin sets for a web-widget channel (kept in channels.settings.widget). */
export const WidgetSettings = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    color: Type.String({ pattern: '^#[0-9A-Fa-f]{6}$' }),
    greeting: Type.String({ maxLength: 500 }),
    preChatForm: Type.Boolean(),
    allowedOrigins: Type.Array(Origin, { maxItems: 50 }),
  },
  { additionalProperties: false },
);
export type WidgetSettings = Static<typeof WidgetSettings>;

/** A new web-widget channel: its name; the rest starts from defaults. */
export const CreateWidgetChannelBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 80 }) },
  { additionalProperties: false },
);

export const WidgetSettingsPatch = Type.Partial(WidgetSettings, { additionalProperties: false });
export type WidgetSettingsPatch = Static<typeof WidgetSettingsPatch>;

export const WidgetSettingsResponse = Type.Intersect([
  WidgetSettings,
  Type.Object({
    siteKey: Type.String(),
    /** The snippet to paste into the customer's pages. */
    snippet: Type.String(),
  }),
]);

/** What the widget itself may read: no allowed origins, no secrets. */
export const PublicWidgetConfig = Type.Object({
  siteKey: Type.String(),
  name: Type.String(),
  color: Type.String(),
  greeting: Type.String(),
  preChatForm: Type.Boolean(),
});

export const SiteQuery = Type.Object(
  { site: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

export const FrameQuery = Type.Object(
  {
    site: Type.String({ format: 'uuid' }),
    origin: Origin,
    lang: Type.Optional(Type.Union([Type.Literal('zh-CN'), Type.Literal('en')])),
  },
  { additionalProperties: false },
);

export const VisitorProfileBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    phone: Type.Optional(Type.String({ minLength: 3, maxLength: 40, pattern: '^[0-9+()\\- .]+$' })),
    /** The visitor ticked "I agree to the processing of my personal data". */
    consent: Type.Boolean(),
  },
  { additionalProperties: false },
);
export const VisitorProfileResponse = Type.Object({
  name: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  consentAt: Type.Union([Type.String(), Type.Null()]),
});
