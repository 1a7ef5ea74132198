// Data the pages need before any test looks at them: the CloudTrail capture (thousands of real
// events, the anomalies the detectors find in them), a signed checkpoint and the search index.
import { test, expect } from './fixtures';

test('seed: CloudTrail capture, anomalies, checkpoint, search index', async ({ admin }) => {
  test.setTimeout(180_000);
  const started = Date.now();
  const records = await admin.importCloudTrail();
  expect(records).toBeGreaterThan(1000);
  const detection = await admin.runJob('anomaly-detection');
  expect(detection.outcome, JSON.stringify(detection)).toBe('success');
  const checkpoint = await admin.runJob('checkpoint');
  expect(checkpoint.outcome, JSON.stringify(checkpoint)).toBe('success');
  const index = await admin.runJob('embed-backfill');
  expect(index.outcome, JSON.stringify(index)).toBe('success');
  const anomalies = await admin.json<{ anomalies: unknown[] }>('GET', '/api/v1/anomalies?limit=500');
  expect(anomalies.anomalies.length, 'anomaly-detection found nothing in the capture').toBeGreaterThan(0);
  console.log(`seed (${process.env.VERITRAIL_E2E_BACKEND}): ${records} CloudTrail records, ${anomalies.anomalies.length} anomalies, ${Date.now() - started} ms`);
});
