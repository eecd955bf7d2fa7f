/** Bad input to the report tools (a file missing, not a report, reports that do not merge). */
export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
}
