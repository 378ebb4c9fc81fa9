/**
 * Validates every client message against the protocol schemas. Messages are dispatched on
 * `type` first so an error names the field of the right message, not "matches no member".
 */
import { Compile, type Validator } from 'typebox/compile';
import { ClientMessageSchema, type ClientMessage, type SignalingError } from '@parley/protocol';

type Member = { properties: { type: { const: string } } };
const byType = new Map<string, Validator>();
for (const member of (ClientMessageSchema as unknown as { anyOf: Member[] }).anyOf) {
  byType.set(member.properties.type.const, Compile(member as never) as unknown as Validator);
}

export function parseClientMessage(
  text: string,
): { message: ClientMessage } | { error: SignalingError; id?: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: { code: 'MESSAGE_INVALID', message: 'The message is not valid JSON.' } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: { code: 'MESSAGE_INVALID', message: 'A message must be a JSON object.' } };
  }
  const record = value as Record<string, unknown>;
  const id = record['id'];
  const type = record['type'];
  const validator = typeof type === 'string' ? byType.get(type) : undefined;
  if (!validator) {
    return {
      id,
      error: {
        code: 'MESSAGE_INVALID',
        field: 'type',
        message: `type must be one of ${[...byType.keys()].join(', ')} (got ${JSON.stringify(type)})`,
      },
    };
  }
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    const params = (first?.params ?? {}) as Record<string, unknown>;
    const segments = (first?.instancePath ?? '').split('/').filter(Boolean);
    if (first?.keyword === 'required' && Array.isArray(params['requiredProperties'])) {
      segments.push(String(params['requiredProperties'][0]));
    }
    if (first?.keyword === 'additionalProperties' && Array.isArray(params['additionalProperties'])) {
      segments.push(String(params['additionalProperties'][0]));
    }
    const field = segments.join('.') || 'message';
    return {
      id,
      error: {
        code: 'MESSAGE_INVALID',
        field,
        message: `${type}: ${field} ${first?.keyword === 'additionalProperties' ? 'is not a known field' : (first?.message ?? 'is invalid')}`,
      },
    };
  }
  return { message: value as ClientMessage };
}
