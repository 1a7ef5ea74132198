// The one way the dashboard talks to the server: same-origin fetch with the
// session cookie, the CSRF token on unsafe methods, and errors read from the
// server's {"error": {"code", "message"}} shape.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter: number | null;
  readonly path: string;

  constructor(status: number, code: string, message: string, path: string, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.path = path;
    this.retryAfter = retryAfter;
  }

  /** The endpoint does not exist on this server (yet): a 404 without a body naming a missing item. */
  get endpointMissing(): boolean {
    return this.status === 404 && this.code === 'endpoint_missing';
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called whenever an authenticated request is answered 401 (the session ended). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
  /** Do not treat a 401 as the end of the session (the login call itself). */
  allowUnauthorized?: boolean;
}

export function buildUrl(path: string, query?: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function readError(response: Response, path: string): Promise<ApiError> {
  const retry = response.headers.get('Retry-After');
  const retryAfter = retry && /^\d+$/.test(retry) ? Number(retry) : null;
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let structured = false;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === 'object' && 'error' in body) {
      const error = (body as { error: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code === 'string') {
        code = error.code;
        structured = true;
      }
      if (typeof error?.message === 'string') message = error.message;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  // The server answers an unknown route with 404 "no such endpoint"; an unknown
  // item is a 404 naming the item. Endpoints that have not landed yet are the former.
  if (response.status === 404 && (!structured || message === 'no such endpoint')) {
    code = 'endpoint_missing';
    message = `${path} is not available on this server yet`;
  }
  return new ApiError(response.status, code, message, path, retryAfter);
}

export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const method = (options.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.', path);
  }
  if (!response.ok) {
    const error = await readError(response, path);
    if (response.status === 401 && !options.allowUnauthorized) {
      unauthorizedListeners.forEach((listener) => listener());
    }
    throw error;
  }
  return response;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Human wording of an error for a notice. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.endpointMissing) return `${error.path} is not available on this server yet.`;
    if (error.code === 'forbidden') return `Your role may not do this (${error.message}).`;
    return error.message || error.code;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
