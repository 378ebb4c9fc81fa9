// A node:test reporter that counts leaf tests and writes {"passed":N,"failed":N} at the end.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    // Suites (describe) report too; count only tests without children, by their details type.
    if (event.data.details?.type === 'suite') continue;
    if (event.type === 'test:pass') {
      if (!event.data.skip && !event.data.todo) passed += 1;
    } else failed += 1;
  }
  yield JSON.stringify({ passed, failed });
}
