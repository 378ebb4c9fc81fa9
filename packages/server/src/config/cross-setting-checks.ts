/**
 * Rules that tie settings to each other, which no single value parser can see. They run after
 * every setting has been parsed on its own, over the values that passed.
 */

/** The problems of a set of parsed values (a setting that failed to parse is absent), in order. */
export function crossSettingProblems(values: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  const portMin = values['rtcPortMin'] as number | undefined;
  const portMax = values['rtcPortMax'] as number | undefined;
  if (portMin !== undefined && portMax !== undefined && (portMin === 0) !== (portMax === 0)) {
    problems.push('rtcPortMin/rtcPortMax: set both or neither');
  } else if (portMin && portMax && portMax - portMin < 1) {
    problems.push(`rtcPortMax: must be above rtcPortMin (got ${portMin}-${portMax})`);
  }
  const udpPort = values['rtcUdpPort'] as number | undefined;
  if (udpPort && (portMin || portMax)) {
    problems.push('rtcUdpPort: set it or rtcPortMin/rtcPortMax, not both (one port carries everything)');
  }
  if (values['recordingStorage'] === 's3') {
    for (const key of ['s3Endpoint', 's3Bucket', 's3AccessKeyId', 's3SecretAccessKey'] as const) {
      if (values[key] === '') problems.push(`${key}: must be set when recordingStorage is s3`);
    }
    const bucket = values['s3Bucket'];
    if (typeof bucket === 'string' && bucket !== '' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      problems.push(
        `s3Bucket: must be 3-63 lowercase letters, digits, "." or "-" (got ${JSON.stringify(bucket)})`,
      );
    }
  }
  return problems;
}
