import { Link } from 'react-router';
import { PageHeader } from '../components/ui';

export default function NotFound() {
  return (
    <div className="page">
      <PageHeader title="Page not found" description="There is no page at this address." />
      <Link to="/" className="button">
        Go to Overview
      </Link>
    </div>
  );
}
